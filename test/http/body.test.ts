import { request, type Server } from 'node:http';
import { gzipSync } from 'node:zlib';
import type { AddressInfo } from 'node:net';
import Koa from 'koa';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { jsonBody } from '../../http/body.ts';
import { errorFunnel } from '../../http/errors.ts';
import { createHttpServer } from '../../http/server.ts';
import pino from 'pino';

// `application/json` with a Content-Length is read by jsonBody itself; any other JSON request
// (here `application/json; v=1`) goes through @koa/bodyparser. Both must end the same way.
const PLAIN = 'application/json';
const PARSER = 'application/json; v=1';
const LIMIT = 1024;

const test = suite('http jsonBody');
let server: Server;
let port = 0;
const errors: string[] = [];
test.before(async () => {
  const app = new Koa();
  app.use(errorFunnel());
  app.use(async (_ctx, next) => {
    try {
      await next();
    } catch (err) {
      errors.push((err as Error).message);
      throw err;
    }
  });
  app.use(jsonBody(LIMIT));
  app.use((ctx) => {
    ctx.body = { body: ctx.request.body, raw: (ctx.request as { rawBody?: string }).rawBody };
  });
  server = createHttpServer(app.callback(), pino({ level: 'silent' }));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  port = (server.address() as AddressInfo).port;
});
test.after(() => new Promise<void>((resolve) => server.close(() => resolve())));

function post(type: string, body: Buffer, headers: Record<string, string | number> = {}): Promise<{ status: number; text: string }> {
  return new Promise((resolve, reject) => {
    const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/', headers: { 'content-type': type, 'content-length': body.length, ...headers } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, text }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

/** Both ways of reading `body` answer the same; returns that answer. */
async function same(body: Buffer | string, headers: Record<string, string | number> = {}) {
  const bytes = typeof body === 'string' ? Buffer.from(body, 'utf8') : body;
  const plain = await post(PLAIN, bytes, headers);
  const parser = await post(PARSER, bytes, headers);
  assert.equal(plain, parser, `both read ${JSON.stringify(bytes.toString('latin1'))} alike`);
  return { status: plain.status, json: JSON.parse(plain.text) as { body?: unknown; raw?: string; error?: { code: string; message: string; field?: string | null } } };
}

test('a JSON object or array → ctx.request.body and the raw text, as the body parser gives them', async () => {
  assert.equal((await same('{"subscriber_id":"sub-1","prefix_length":56}')).json, { body: { subscriber_id: 'sub-1', prefix_length: 56 }, raw: '{"subscriber_id":"sub-1","prefix_length":56}' });
  assert.equal((await same(' \n[1,2]')).json.body, [1, 2]);
  assert.equal((await same('{"é":"ü ✓"}')).json.body, { é: 'ü ✓' });
});

test('an empty body → {}', async () => {
  assert.equal((await same('')).json.body, {});
});

test('a leading BOM is dropped', async () => {
  assert.equal((await same('\uFEFF{"a":1}')).json.body, { a: 1 });
});

const bytes = (...parts: (string | number[])[]) => Buffer.concat(parts.map((p) => (typeof p === 'string' ? Buffer.from(p, 'utf8') : Buffer.from(p))));

test('bytes that are not UTF-8 → 400 naming the field whose value holds the first of them, not U+FFFD', async () => {
  const cases: [Buffer, string][] = [
    [bytes('{"a":"', [0xff], '"}'), 'a'],
    [bytes('\uFEFF{"ok":"\uFFFD","a":{"b":["x","caf', [0xe9], '"]}}'), 'a.b.1'],
    // A truncated sequence (EF BF of EF BF BD) next to a U+FFFD that was sent.
    [bytes('{"a":"\uFFFD', [0xef, 0xbf], '"}'), 'a'],
  ];
  for (const [body, field] of cases) {
    const r = await same(body);
    assert.is(r.status, 400);
    assert.equal(r.json.error, { code: 'validation_error', message: `${field} is not UTF-8 text`, field });
  }
});

test('bytes that are not UTF-8 in a key, or in a body that is no JSON either → 400 "not UTF-8 text", no field', async () => {
  for (const body of [bytes('{"caf', [0xe9], '":1}'), bytes('{"a":', [0xe9], '}'), bytes([0xfe, 0xff, 0, 0x7b, 0, 0x7d])]) {
    const r = await same(body);
    assert.is(r.status, 400);
    assert.equal(r.json.error, { code: 'validation_error', message: 'request body is not UTF-8 text', field: null });
  }
});

test('a key given twice in one object, however it is spelled → 400 naming it by its path', async () => {
  const cases: [string, string][] = [
    ['{"subscriber_id":"a","subscriber_id":"b"}', 'subscriber_id'],
    ['{"a":1,"\\u0061":2}', 'a'],
    ['{"x":{"y":"\\"","z":[{"k":1,"k":2}]}}', 'x.z.0.k'],
    ['[{},{"a":":","b":1,"a":"}"}]', '1.a'],
  ];
  for (const [text, field] of cases) {
    const r = await same(text);
    assert.is(r.status, 400, text);
    assert.equal(r.json.error, { code: 'validation_error', message: `${field} is given more than once; give it once`, field });
  }
});

test('the same key in different objects, or a key that is another\'s value, is no repetition', async () => {
  const text = '{"a":{"a":"a"},"b":[{"a":1},{"a":2}],"c":"b","d\\"":1,"d":2}';
  assert.equal((await same(text)).json.body, JSON.parse(text));
});

test('a gzip body is inflated before it is decoded: JSON → the body, bytes that are not UTF-8 → 400 naming the field', async () => {
  const gz = { 'content-encoding': 'gzip' };
  assert.equal((await same(gzipSync('{"a":"\u00e9"}'), gz)).json.body, { a: '\u00e9' });
  const r = await same(gzipSync(bytes('{"a":"caf', [0xe9], '"}')), gz);
  assert.equal([r.status, r.json.error?.field], [400, 'a']);
  assert.is((await same(Buffer.from('{}'), { 'content-encoding': 'zip' })).status, 415);
});

test('a charset other than UTF-8 → 415 naming Content-Type, before anything is read; utf-8 however spelt is JSON', async () => {
  for (const type of ['application/json; charset=iso-8859-1', 'application/json;charset="windows-1252"', 'application/json; charset=utf-16', 'application/json; v=1; charset=latin1']) {
    const r = await post(type, Buffer.from('{"a":"caf\u00e9"}', 'latin1'));
    const json = JSON.parse(r.text);
    assert.equal([r.status, json.error.code, json.error.field], [415, 'unsupported_media_type', 'Content-Type'], type);
    assert.match(json.error.message, /UTF-8/);
  }
  for (const type of ['application/json; charset=utf-8', 'application/json; charset=UTF8', 'application/json; v=1; charset="UTF-8"']) {
    const r = await post(type, Buffer.from('{"a":"caf\u00e9"}', 'utf8'));
    assert.equal([r.status, JSON.parse(r.text).body], [200, { a: 'caf\u00e9' }], type);
  }
});

test('a scalar → 400 "must be a JSON object"; malformed JSON → 400 naming it', async () => {
  const scalar = await same('"x"');
  assert.is(scalar.status, 400);
  assert.is(scalar.json.error?.message, 'request body must be a JSON object');
  const bad = await same('{bad');
  assert.is(bad.status, 400);
  assert.match(bad.json.error?.message ?? '', /^malformed JSON: /);
});

test('a `__proto__` key, plain or escaped, at any depth → 400 naming it by its path, as @hapi/bourne refuses it', async () => {
  for (const [text, field] of [['{"__proto__":{"x":1}}', '__proto__'], ['{"a":[{"\\u005f_proto__":1}]}', 'a.0.__proto__']]) {
    const r = await same(text!);
    assert.is(r.status, 400);
    assert.is(r.json.error?.message, `unknown field ${field}`);
    assert.is(r.json.error?.field, field);
  }
  assert.equal((await same('{"a":"__proto__"}')).json.body, { a: '__proto__' });
});

test('a Content-Length over the limit → 413 before reading', async () => {
  const r = await same('{"a":"' + 'x'.repeat(LIMIT) + '"}');
  assert.is(r.status, 413);
  assert.is(r.json.error?.code, 'payload_too_large');
});

test('a client gone before the whole body came → "request body incomplete: request aborted", either way', async () => {
  for (const type of [PLAIN, PARSER]) {
    errors.length = 0;
    await new Promise<void>((resolve) => {
      const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/', headers: { 'content-type': type, 'content-length': 100 } });
      req.on('error', () => resolve());
      req.write('{"a":');
      setTimeout(() => req.destroy(), 50);
    });
    for (let i = 0; i < 50 && errors.length === 0; i++) await new Promise((r) => setTimeout(r, 10));
    assert.equal(errors, ['request body incomplete: request aborted'], type);
  }
});

test.run();
