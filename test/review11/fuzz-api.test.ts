// A seeded fuzzer of the published contract: for every operation and parameter of GET /openapi.json, the
// bad inputs of fuzz-api-cases.ts. Each must get a 4xx (never a 5xx, never a 2xx when the document finds it
// invalid) in the documented error shape, naming the field where there is one, valid against the
// document's response schema; and nothing may change (the list, the metrics summary, seeded audits).
// FUZZ_SEED=<n> replays a run; a failure prints its seed. FUZZ_SHOW=<regex of "class status"> prints those answers.
import { request as httpRequest, validateHeaderValue } from 'node:http';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { BASE, startHarness, type Harness } from '../http/support.ts';
import { validate } from '../http/schema-check.ts';
import { createRandom } from '../support/soak-random.ts';
import { BAD_PARAMS, bodyCases, paramInvalid, type Case } from './fuzz-api-cases.ts';

const SEED = Number(process.env.FUZZ_SEED ?? 20261203);
const test = suite('fuzz the API from its OpenAPI document');
let h: Harness;
let doc: any;
const SEEDED = ['fz-alloc', 'fz-active', 'fz-susp', 'fz-failed-none'];

test.before(async () => {
  h = await startHarness();
  doc = (await h.get('/openapi.json')).body;
  assert.is((await h.post('allocate', { subscriber_id: 'fz-alloc' })).status, 201);
  for (const s of ['fz-active', 'fz-susp']) {
    assert.is((await h.post('allocate', { subscriber_id: s })).status, 201);
    assert.is((await h.post('activate', { subscriber_id: s, username: `${s}@example.net` })).status, 200);
  }
  assert.is((await h.post('suspend', { subscriber_id: 'fz-susp', reason: 'unpaid' })).status, 200);
});
test.after(async () => {
  await h.close();
});

interface Sent {
  status: number;
  type: string;
  text: string;
}

// node:http, not fetch: it sends what a client may send (no body checks, any Content-Type, an empty header).
function send(c: Case): Promise<Sent> {
  const url = new URL(h.origin);
  return new Promise((resolve, reject) => {
    const headers: Record<string, string | number> = { authorization: `Bearer ${h.token}`, ...c.headers };
    if (headers.authorization === '') delete headers.authorization;
    if (c.body) headers['content-length'] = c.body.length;
    const req = httpRequest({ host: url.hostname, port: url.port, method: c.method, path: c.path, headers }, (res) => {
      const chunks: Buffer[] = [];
      res.on('data', (d: Buffer) => chunks.push(d));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, type: String(res.headers['content-type'] ?? ''), text: Buffer.concat(chunks).toString('utf8') }));
    });
    req.on('error', reject);
    req.end(c.body);
  });
}

// What a client can see of the service's state (the metrics' clock-driven figures left out), and what IPAM holds.
async function snapshot(): Promise<string> {
  const list = await h.get(`${BASE}/lifecycle?limit=1000`);
  const metrics = await h.get(`${BASE}/metrics`);
  const audits = await Promise.all(SEEDED.map(async (s) => (await h.get(`${BASE}/lifecycle/${s}/events`)).text));
  return JSON.stringify({ list: list.body, pools: metrics.body.pools, states: metrics.body.states, leaks: metrics.body.leaks, audits, ipam: h.ipam.allocations() });
}

const problems: string[] = [];
const counts = new Map<string, { sent: number; status: Map<number, number> }>();

function operationOf(path: string): { template: string } | null {
  const bare = path.split('?')[0]!;
  const template = Object.keys(doc.paths).find((t) => new RegExp(`^${t.replace(/\{[^}]+\}/g, '[^/]*')}$`).test(bare));
  return template ? { template } : null;
}

// Checks one answer; every broken rule is a line in `problems`.
function judge(c: Case, r: Sent, docMethod: string) {
  const label = `${c.cls} ${c.method} ${c.path.slice(0, 120)} ${c.body ? c.body.toString('utf8').slice(0, 160) : ''}`;
  const cls = c.cls.replace(/^random:.*/, 'random').replace(/:replay$/, '');
  const tally = counts.get(cls) ?? { sent: 0, status: new Map() };
  tally.sent++;
  tally.status.set(r.status, (tally.status.get(r.status) ?? 0) + 1);
  counts.set(cls, tally);
  const fail = (why: string) => problems.push(`${why}: ${label} → ${r.status} ${r.text.slice(0, 200)}`);
  if (r.status >= 500) return fail('5xx');
  if (c.invalid && r.status < 400) return fail('accepted an invalid request');
  const op = operationOf(c.path);
  const spec = op && (doc.paths[op.template][docMethod] ?? Object.values(doc.paths[op.template])[0]);
  const response = spec?.responses?.[String(r.status)];
  if (!response) return fail(`status ${r.status} is not documented`);
  const schema = response.content?.['application/json']?.schema;
  if (!schema) return;
  if (!r.type.includes('json')) return fail('not JSON');
  let body: any;
  try {
    body = JSON.parse(r.text);
  } catch {
    return fail('unparseable JSON');
  }
  const errors = validate(schema, body, doc);
  if (errors.length) return fail(`off the response schema (${errors.slice(0, 2).join('; ')})`);
  if (r.status < 400 || c.field === undefined) return;
  const field = body.error.field as string | null;
  if (c.field === null) {
    if (field !== null) fail(`field ${field}, expected null`);
  } else if (r.status === 400 && field === null) fail(`field null, expected ${c.field}`);
  else if (r.status === 400 && !(field === c.field || c.field.startsWith(`${field}.`) || field!.startsWith(`${c.field}.`)))
    fail(`field ${field}, expected ${c.field}`);
}

async function batch(name: string, cases: Case[], docMethod: string) {
  const before = await snapshot();
  let last: Sent | null = null;
  for (const c of cases) {
    const r = await send(c);
    judge(c, r, docMethod);
    if (process.env.FUZZ_SHOW && new RegExp(process.env.FUZZ_SHOW).test(`${c.cls} ${r.status}`)) console.log(c.cls, c.path, c.body?.toString().slice(0, 100), r.status, r.text.slice(0, 160));
    if (c.cls.endsWith(':replay') && (r.status !== last?.status || r.text !== last.text)) problems.push(`replay differs: ${c.cls} ${c.path} → ${r.status} ${r.text.slice(0, 120)}, first ${last?.status} ${last?.text.slice(0, 120)}`);
    last = r;
  }
  const after = await snapshot();
  if (after !== before) problems.push(`${name}: the batch changed the service's state`);
}

const LIFECYCLE: [string, Record<string, unknown>][] = [
  ['allocate', { subscriber_id: 'fz-new', pool: 'residential', prefix_length: 56 }],
  ['activate', { subscriber_id: 'fz-alloc', username: 'new@example.net', cpe_id: 'CPE-1' }],
  ['suspend', { subscriber_id: 'fz-active', reason: 'unpaid' }],
  ['reactivate', { subscriber_id: 'fz-susp' }],
  ['revoke', { subscriber_id: 'fz-active', reason: 'terminated' }],
  ['update', { subscriber_id: 'fz-active', prefix_length: 56, pool: 'residential' }],
  ['retry', { subscriber_id: 'fz-active' }],
];
const IMPORT = { sources: { file: { records: [{ subscriber_id: 'fz-imp', prefix: '2001:db8:0:ff00::/56', username: 'imp@example.net', cpe_id: null, state: 'active' }] } }, options: { batch_size: 10 } };

// What node:http lets a client put in a header at all.
const sendable = (v: string) => {
  try {
    validateHeaderValue('x', v);
    return true;
  } catch {
    return false;
  }
};

// The document's schema of parameter `name` of the operation at `path`.
function paramOf(method: string, path: string, name: string): any {
  const op = operationOf(path)!;
  return doc.paths[op.template][method.toLowerCase()].parameters.find((p: any) => p.name === name);
}

const paramCases = (method: string, path: string, name: string, valid: string, body?: unknown): Case[] => {
  const sep = path.includes('?') ? '&' : '?';
  const headers: Record<string, string> = body === undefined ? {} : { 'content-type': 'application/json' };
  const b = body === undefined ? undefined : Buffer.from(JSON.stringify(body));
  const param = paramOf(method, path, name);
  // `allowEmptyValue`: the document says an empty value is the parameter left out.
  const invalid = (v: string) => !(v === '' && param?.allowEmptyValue === true) && paramInvalid(doc, param?.schema, v);
  const bad: Case[] = BAD_PARAMS.map(([cls, v]) => {
    const decodes = (() => {
      try {
        return decodeURIComponent(v) !== null;
      } catch {
        return false;
      }
    })();
    return { cls: `query:${cls}`, method, path: `${path}${sep}${name}=${v}`, body: b, headers, field: decodes ? name : undefined, invalid: invalid(v) };
  });
  bad.push({ cls: 'query:repeated', method, path: `${path}${sep}${name}=${valid}&${name}=${valid}`, body: b, headers, field: name, invalid: true });
  bad.push({ cls: 'query:unknown', method, path: `${path}${sep}zz_unknown=1`, body: b, headers, field: 'zz_unknown', invalid: true });
  return bad;
};

// Bad values of the path parameter `name`, written where `{name}` stands in `template`.
const pathCases = (method: string, template: string, name: string): Case[] => {
  const schema = paramOf(method, template.replace(/\{[^}]+\}/, 'x').split('?')[0]!, name)?.schema;
  const values = [...BAD_PARAMS.filter(([, v]) => v !== ''), ['long', 'a'.repeat(129)] as [string, string]];
  return values.map(([cls, v]) => ({ cls: `path:${cls}`, method, path: template.replace(`{${name}}`, v), headers: {}, invalid: paramInvalid(doc, schema, v) }));
};

let skipped = 0;
// State-changing operations get only what the document refuses: a valid mutation would rightly change state.
const refused = (cases: Case[]) => {
  skipped += cases.filter((c) => !c.invalid).length;
  return cases.filter((c) => c.invalid);
};

test(`every operation refuses bad input, names it, and changes nothing (FUZZ_SEED=${SEED})`, async () => {
  const seed = createRandom(SEED);
  const started = Date.now();
  for (const [op, base] of LIFECYCLE) {
    const path = `${BASE}/${op}`;
    await batch(`${op} body`, refused(bodyCases(doc, 'POST', path, base as never, '', seed)), 'post');
    await batch(`${op} ?wait`, refused(paramCases('POST', path, 'wait', '100', base)), 'post');
    // A seeded draw of them under an Idempotency-Key, each sent twice: the replay answers the same.
    const drawn = bodyCases(doc, 'POST', path, base as never, '', seed).filter((c) => c.invalid && seed.next() < 0.1);
    const keyedCases = drawn.map((c, i) => ({ ...c, cls: `keyed:${c.cls.split(':')[0]}`, headers: { ...c.headers, 'idempotency-key': `fz-${op}-${SEED}-${i}` } }));
    await batch(`${op} keyed`, keyedCases.flatMap((c) => [c, { ...c, cls: `${c.cls}:replay` }]), 'post');
    const keys = ['', 'a'.repeat(256), 'a b', 'ключ', 'a\tb', '\x7f'].map((k) => ({ cls: 'header:idempotency-key', method: 'POST', path, body: Buffer.from(JSON.stringify(base)), headers: { 'content-type': 'application/json', 'idempotency-key': k }, field: 'Idempotency-Key', invalid: true }));
    await batch(`${op} Idempotency-Key`, keys.filter((k) => sendable(k.headers['idempotency-key'])), 'post');
  }
  // A file record's names are the API's (a 400 naming the field); a prefix text the plan cannot read
  // is a conflict of the report (outside_pools), not a 400.
  const prefixText = (c: Case) => c.cls.startsWith('unicode') && /\.prefix$/.test(c.field ?? '');
  await batch('import body', bodyCases(doc, 'POST', `${BASE}/import`, IMPORT as never, '?dry_run=true', seed).map((c) => ({ ...c, invalid: c.invalid && !prefixText(c) })), 'post');
  await batch('import ?dry_run', paramCases('POST', `${BASE}/import`, 'dry_run', 'false', IMPORT), 'post');
  await batch('import ?format', paramCases('POST', `${BASE}/import?dry_run=true`, 'format', 'json', IMPORT), 'post');
  await batch('jobs body', bodyCases(doc, 'POST', `${BASE}/jobs/cleanup`, {} as never, '?dry_run=true', seed), 'post');
  await batch('jobs ?dry_run', paramCases('POST', `${BASE}/jobs/cleanup`, 'dry_run', 'true'), 'post');
  await batch('jobs {job}', pathCases('POST', `${BASE}/jobs/{job}?dry_run=true`, 'job'), 'post');
  const list = `${BASE}/lifecycle`;
  for (const [name, valid] of [['state', 'active'], ['pool', 'residential'], ['limit', '10'], ['order', 'asc'], ['cursor', 'abc']] as const)
    await batch(`list ?${name}`, paramCases('GET', list, name, valid), 'get');
  // Cursors of the right alphabet that this service never wrote (runtime/list-cursor.ts).
  const b64 = (v: unknown) => Buffer.from(JSON.stringify(v)).toString('base64url');
  const forged = [['desc', 'x', 'y'], ['asc', '2026-12-03T00:00:00.000Z', 5], ['desc', '2026-12-03T00:00:00.000Z', 'a', 1], [1e300], 'x', null, {}, ['desc', '\ud800', '\u0000']];
  await batch('list forged cursors', forged.map((v) => ({ cls: 'query:forged-cursor', method: 'GET', path: `${list}?cursor=${b64(v)}`, headers: {}, field: 'cursor', invalid: true })), 'get');
  for (const [name, valid] of [['kind', 'ipam_orphan'], ['limit', '10'], ['cursor', '5']] as const)
    await batch(`reconciliation ?${name}`, paramCases('GET', `${BASE}/reconciliation`, name, valid), 'get');
  for (const sub of ['/events', '']) {
    const ids = pathCases('GET', `${list}/{subscriber_id}${sub}`, 'subscriber_id');
    ids.push({ cls: 'query:unknown', method: 'GET', path: `${list}/fz-alloc${sub}?zz_unknown=1`, headers: {}, field: 'zz_unknown', invalid: true });
    await batch(`lifecycle/{id}${sub}`, ids, 'get');
  }
  // Every /api/ operation without the right token, and every path with a method it does not document.
  const api = Object.keys(doc.paths).filter((p) => p.startsWith(BASE));
  const concrete = (p: string) => p.replace('{subscriber_id}', 'fz-alloc').replace('{job}', 'cleanup');
  const auth: Case[] = api.flatMap((p) =>
    Object.keys(doc.paths[p]).flatMap((m) =>
      [null, 'Basic dGVzdDp0ZXN0', 'Bearer', 'Bearer ', `Bearer ${h.token}x`, `Bearer ${h.token.slice(1)}`, 'Token abc', `Bearer  ${h.token} extra`].map((a) => ({
        cls: 'auth', method: m.toUpperCase(), path: concrete(p), headers: { authorization: a ?? '' }, field: null, invalid: true,
      })),
    ),
  );
  await batch('auth', auth, 'any');
  const methods: Case[] = Object.keys(doc.paths).flatMap((p) =>
    ['GET', 'POST', 'PUT', 'PATCH', 'DELETE'].filter((m) => !doc.paths[p][m.toLowerCase()]).map((m) => ({ cls: 'method', method: m, path: concrete(p), headers: {}, field: null, invalid: true })),
  );
  await batch('methods', methods, 'any');
  // The probes and the document take no query schema (http/routes/system.ts): an unknown parameter is let be.
  for (const p of [`${BASE}/metrics`, '/metrics', '/healthz', '/readyz', '/openapi.json'])
    await batch(`${p} ?`, [{ cls: 'query:unknown', method: 'GET', path: `${p}?zz_unknown=1`, headers: {}, invalid: p === `${BASE}/metrics` }], 'get');
  const total = [...counts.values()].reduce((n, t) => n + t.sent, 0);
  console.log(`fuzz-api: seed ${SEED}, ${total} requests in ${Date.now() - started} ms (${skipped} valid mutations of state-changing operations not sent)`);
  for (const [cls, t] of counts) console.log(`  ${cls}: ${t.sent} (${[...t.status].map(([s, n]) => `${s}×${n}`).join(' ')})`);
  if (problems.length) console.log(`fuzz-api: FUZZ_SEED=${SEED}\n${problems.slice(0, 40).join('\n')}`);
  assert.is(problems.length, 0, `${problems.length} problems; replay with FUZZ_SEED=${SEED}`);
});

test.run();
