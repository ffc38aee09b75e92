// The bad inputs of test/review11/fuzz-api.test.ts, drawn from the OpenAPI document's operations: for every
// field of every request body, every query and path parameter and the Idempotency-Key header, the values a
// hostile or careless client sends. A case is a request plus what its answer must name.
import { Ajv2020 } from 'ajv/dist/2020.js';
import addFormats from 'ajv-formats';
import type { Random } from '../support/soak-random.ts';

/** One request of the fuzzer and what its refusal must say. */
export interface Case {
  cls: string;
  method: string;
  path: string;
  body?: Buffer;
  headers: Record<string, string>;
  /** The field the refusal names; undefined: not checked (null is checked). */
  field?: string | null;
  /** False when the document itself finds nothing wrong (sent only where nothing can change). */
  invalid: boolean;
}

// A value is JSON text, so 1e400, -0 and \ud800 escapes reach the parser as a client writes them.
const BAD_VALUES: [string, string][] = [
  ['type', '42'], ['type', 'true'], ['type', '{}'], ['type', '[]'], ['type', '["x"]'], ['type', '{"a":1}'],
  ['null', 'null'], ['empty', '""'], ['blank', '"   "'],
  ['number', '-1'], ['number', '0'], ['number', '1.5'], ['number', '-0'], ['number', '1e400'], ['number', '-1e400'],
  ['number', '9007199254740993'], ['number', '1e308'], ['number', '65'], ['number', '56.0000000001'],
  ['numeric-string', '"56"'], ['numeric-string', '"1e400"'], ['numeric-string', '"-0"'],
  ['long', JSON.stringify('a'.repeat(129))], ['long', JSON.stringify('a'.repeat(254))], ['long', JSON.stringify('a'.repeat(70_000))],
  ['unicode', '"\\ud800"'], ['unicode', '"a\\udc00b"'], ['unicode', '"\\udbff\\udbff"'], ['unicode', '"a\\u0000b"'],
  ['unicode', '"\\u200f"'], ['unicode', '"a\\u202eb"'], ['unicode', '"\\ufeffa"'], ['unicode', '"a\\u2028"'],
  ['unicode', '"\\u0085"'], ['unicode', '"a\\u001b[31m"'], ['unicode', '"\\u00ad"'],
];

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };
const isObj = (v: Json): v is { [k: string]: Json } => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Every path to a value inside `v`, objects and arrays included, as dotted segments. */
function paths(v: Json, at: string[] = []): string[][] {
  const out: string[][] = [];
  if (isObj(v)) for (const [k, x] of Object.entries(v)) out.push([...at, k], ...paths(x, [...at, k]));
  else if (Array.isArray(v)) v.forEach((x, i) => out.push([...at, String(i)], ...paths(x, [...at, String(i)])));
  return out;
}

// JSON text of `v` with the value at `path` written as `raw` (undefined: the key left out).
function render(v: Json, path: string[], raw: string | undefined): string {
  if (path.length === 0) return raw ?? '';
  const [head, ...rest] = path as [string, ...string[]];
  if (Array.isArray(v)) return `[${v.map((x, i) => (String(i) === head ? render(x, rest, raw ?? 'null') : JSON.stringify(x))).join(',')}]`;
  const parts = Object.entries(v as Record<string, Json>).flatMap(([k, x]) =>
    k !== head ? [`${JSON.stringify(k)}:${JSON.stringify(x)}`] : rest.length === 0 && raw === undefined ? [] : [`${JSON.stringify(k)}:${render(x, rest, raw)}`],
  );
  return `{${parts.join(',')}}`;
}

const hasLoneSurrogate = (s: string) => /\\ud[89ab][0-9a-f](?!\\ud[c-f])|(?<!\\ud[89ab][0-9a-f]{2})\\ud[c-f][0-9a-f]{2}/i.test(s);

/** Builds the body cases of one operation, judged against its request schema in `doc`. */
export function bodyCases(doc: any, method: string, path: string, base: Json, query = '', seed: Random): Case[] {
  const op = doc.paths[path.replace(/\/jobs\/[^/]+$/, '/jobs/{job}')][method.toLowerCase()];
  const schema = op.requestBody.content['application/json'].schema;
  const ajv = new Ajv2020({ strict: false, allErrors: false });
  addFormats.default(ajv);
  const check = ajv.compile({ ...schema, components: doc.components });
  const json = { 'content-type': 'application/json' };
  const out: Case[] = [];
  // The service also refuses a lone surrogate in a name (services/names.ts), which no pattern can say;
  // free text (a reason) keeps it, escaped, as given.
  const add = (cls: string, text: string, field: string | null | undefined, headers: Record<string, string> = json) => {
    let invalid = true;
    try {
      invalid = !check(JSON.parse(text)) || (hasLoneSurrogate(text) && !/reason$/.test(field ?? ''));
    } catch {
      invalid = !(text === '' && op.requestBody.required === false);
    }
    out.push({ cls, method, path: path + query, body: Buffer.from(text), headers, field, invalid });
  };
  for (const p of paths(base)) {
    const dotted = p.join('.');
    add('missing', render(base, p, undefined), dotted);
    for (const [cls, raw] of BAD_VALUES) add(cls, render(base, p, raw), dotted);
  }
  // Fields the schema knows that the base leaves out, given each bad value.
  for (const k of Object.keys(schema.properties ?? {}).filter((k) => !isObj(base) || !(k in base)))
    for (const [cls, raw] of BAD_VALUES) add(cls, render({ ...(base as object), [k]: null }, [k], raw), k);
  for (const at of [[], ...paths(base)].filter((p) => isObj(p.reduce<any>((v, k) => v[k], base)))) {
    const inner = at.reduce<any>((v, k) => v[k], base) as { [k: string]: Json };
    const name = [...at, 'zz_extra'].join('.');
    add('extra', render(base, at, JSON.stringify({ ...inner, zz_extra: 1 })).replace(/^$/, JSON.stringify({ ...inner, zz_extra: 1 })), name);
    add('array-for-object', at.length ? render(base, at, JSON.stringify([inner])) : JSON.stringify([inner]), at.length ? at.join('.') : null);
    const keys = Object.keys(inner);
    if (keys.length) {
      const k = keys[0]!;
      const dup = JSON.stringify(inner).replace(/^\{/, `{${JSON.stringify(k)}:${JSON.stringify(inner[k])},`);
      add('duplicate-key', at.length ? render(base, at, dup) : dup, [...at, k].join('.'));
    }
  }
  const before = (text: string) => JSON.stringify(base).replace(/^\{/, `{${text}${Object.keys(base as object).length ? ',' : ''}`);
  add('proto', before('"__proto__":{"admin":true}'), undefined);
  add('proto', before('"constructor":{"prototype":{}}'), 'constructor');
  for (const text of ['', 'null', '"x"', '42', 'true', '[]', '{', '{"a":}', '{}x', '\u0000', '{"subscriber_id":"\\x"}'])
    add('body-shape', text, text === '{}x' || text === '{' ? null : undefined);
  out.push({ cls: 'non-utf8', method, path: path + query, body: Buffer.concat([Buffer.from('{"subscriber_id":"a'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]), headers: json, field: undefined, invalid: true });
  for (const ct of ['text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', 'application/xml', 'application/json; charset=latin1', 'application/jsonx', 'json'])
    out.push({ cls: 'content-type', method, path: path + query, body: Buffer.from(JSON.stringify(base)), headers: { 'content-type': ct }, field: 'Content-Type', invalid: true });
  out.push({ cls: 'content-type', method, path: path + query, body: Buffer.from(JSON.stringify(base)), headers: {}, field: undefined, invalid: true });
  // Seeded draws: a bad value at a random place, beside an unknown key of a random name.
  for (let i = 0; paths(base).length > 0 && i < 60; i++) {
    const p = seed.pick(paths(base));
    const [cls, raw] = seed.pick(BAD_VALUES);
    const extra = `zz${seed.int(0, 999_999)}`;
    add(`random:${cls}`, render(base, p, raw).replace(/^\{/, `{"${extra}":${seed.pick(BAD_VALUES)[1]},`), undefined);
  }
  return out;
}

/** Bad values of a query or path parameter (already percent-encoded), by class. */
export const BAD_PARAMS: [string, string][] = [
  ['empty', ''], ['number', '-1'], ['number', '-0'], ['number', '1.5'], ['number', '1e400'], ['number', '1e3'],
  ['number', '0x10'], ['number', '99999999999999999999'], ['number', '+5'], ['number', '%205'], ['number', '5%20'],
  ['type', 'true'], ['type', 'abc'], ['type', '%5B%5D'], ['long', 'a'.repeat(2000)],
  ['unicode', '%00'], ['unicode', '%7F'], ['unicode', '%E2%80%8F'], ['unicode', '%ED%A0%80'], ['unicode', '%C3%28'],
  ['percent', '%'], ['percent', '%zz'], ['percent', '%E2%80'],
];

/** Whether the document refuses `raw` (percent-encoded) as the value of a parameter of `schema`. */
export function paramInvalid(doc: any, schema: any, raw: string): boolean {
  let value: string;
  try {
    value = decodeURIComponent(raw);
  } catch {
    return true;
  }
  // A query string carries an integer as decimal digits; "-0", "+5", "1e3" and " 5" are not.
  if (schema.type === 'integer') return !/^\d+$/.test(value) || Number(value) < (schema.minimum ?? -Infinity) || Number(value) > (schema.maximum ?? Infinity);
  if (/[\ud800-\udfff]/.test(value) && !/[\ud800-\udbff][\udc00-\udfff]/.test(value)) return true;
  const ajv = new Ajv2020({ strict: false });
  return !ajv.compile({ ...schema, components: doc.components })(value);
}
