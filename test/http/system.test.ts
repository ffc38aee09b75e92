import type Router from '@koa/router';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ServiceError } from '../../services/errors.ts';
import { BASE, startHarness, type Harness } from './support.ts';

const test = suite('http system routes, routing and the error funnel');
let h: Harness;
test.before.each(async () => {
  h = await startHarness();
});
test.after.each(async () => {
  await h.close();
});

type Doc = {
  openapi: string;
  paths: Record<string, Record<string, any>>;
  components: { schemas: Record<string, unknown>; securitySchemes: Record<string, unknown> };
};

/** `METHOD /path` of every route the app's router serves, read from the router itself. */
function servedRoutes(): string[] {
  const routers = (h.composed.app.middleware as { router?: Router }[]).flatMap((m) => (m.router ? [m.router] : []));
  assert.is(routers.length, 1);
  return routers[0]!.stack.flatMap((layer) =>
    layer.methods.filter((m) => m !== 'HEAD').map((m) => `${m} ${String(layer.path).replace(/:([A-Za-z_]+)/g, '{$1}')}`),
  );
}

function documentedRoutes(doc: Doc): string[] {
  return Object.entries(doc.paths).flatMap(([path, item]) => Object.keys(item).map((m) => `${m.toUpperCase()} ${path}`));
}

test('GET /openapi.json → OpenAPI 3.1 documenting exactly the routes the router serves', async () => {
  const r = await h.get('/openapi.json', { token: null });
  assert.is(r.status, 200);
  const doc = r.body as Doc;
  assert.match(doc.openapi, /^3\.1\.\d+$/);
  const served = servedRoutes().sort();
  assert.equal(documentedRoutes(doc).sort(), served);
  for (const route of [
    'POST /api/v1/network/ipv6/allocate',
    'POST /api/v1/network/ipv6/activate',
    'POST /api/v1/network/ipv6/suspend',
    'POST /api/v1/network/ipv6/reactivate',
    'POST /api/v1/network/ipv6/revoke',
    'POST /api/v1/network/ipv6/update',
    'POST /api/v1/network/ipv6/retry',
    'GET /api/v1/network/ipv6/lifecycle/{subscriber_id}',
    'GET /api/v1/network/ipv6/lifecycle/{subscriber_id}/events',
    'GET /api/v1/network/ipv6/lifecycle',
    'GET /api/v1/network/ipv6/metrics',
    'GET /metrics',
    'GET /healthz',
    'GET /readyz',
    'GET /openapi.json',
    'POST /api/v1/network/ipv6/jobs/{job}',
    'POST /api/v1/network/ipv6/import',
    'GET /api/v1/network/ipv6/reconciliation',
  ]) {
    assert.ok(served.includes(route), `API.md's ${route} is served and documented`);
  }
  assert.is(served.length, 18);
});

test('GET /openapi.json → every documented route answers (no 404 route or 405)', async () => {
  await h.post('allocate', { subscriber_id: 's' });
  const doc = (await h.get('/openapi.json')).body as Doc;
  for (const route of documentedRoutes(doc)) {
    const [method, template] = route.split(' ') as [string, string];
    const path = template.replace('{subscriber_id}', 's');
    const r = method === 'POST' ? await h.request('POST', path, { json: {} }) : await h.get(path);
    assert.ok(r.status !== 405 && !(r.status === 404 && /no route/.test(r.text)), `${route} → ${r.status}`);
  }
});

test('GET /openapi.json → bearer security, Idempotency-Key and wait on every POST, 202 with Location, error responses', async () => {
  const doc = (await h.get('/openapi.json')).body as Doc;
  assert.equal(doc.components.securitySchemes.bearer, { type: 'http', scheme: 'bearer', description: 'The API token from configuration or the environment' });
  for (const [path, item] of Object.entries(doc.paths)) {
    for (const [method, op] of Object.entries(item)) {
      const where = `${method} ${path}`;
      if (path.startsWith('/api/')) {
        assert.equal(op.security, [{ bearer: [] }], where);
        for (const s of ['400', '401', '500', '503']) assert.ok(op.responses[s], `${where} documents ${s}`);
        assert.is(op.responses['401'].content['application/json'].schema.$ref, '#/components/schemas/Error');
      } else {
        assert.equal(op.security, [], where);
      }
      if (method !== 'post') continue;
      const params = op.parameters.map((p: { in: string; name: string }) => `${p.in}:${p.name}`);
      assert.ok(params.includes('header:Idempotency-Key'), where);
      for (const s of ['200', '404', '409', '413', '415', '422', '502']) assert.ok(op.responses[s], `${where} documents ${s}`);
      // A job run and an import answer when they have ended: no `wait`, no 202.
      if (path.includes('/jobs/') || path.endsWith('/import')) continue;
      assert.ok(params.includes('query:wait'), where);
      assert.ok(op.responses['202'].headers.Location, `${where} 202 has Location`);
      assert.is(op.requestBody.content['application/json'].schema.additionalProperties, false, `${where} body is strict`);
    }
  }
  assert.ok(doc.paths['/api/v1/network/ipv6/allocate']!.post.responses['201']);
  const wait = doc.paths['/api/v1/network/ipv6/allocate']!.post.parameters.find((p: { name: string }) => p.name === 'wait');
  assert.equal(wait.schema, { type: 'integer', minimum: 0, maximum: 60000, default: 5000 });
});

test('GET /openapi.json → every $ref resolves', async () => {
  const r = await h.get('/openapi.json');
  const refs = [...r.text.matchAll(/"\$ref":"([^"]+)"/g)].map((m) => m[1]!);
  assert.ok(refs.length > 0);
  for (const ref of new Set(refs)) {
    const target = ref.replace(/^#\//, '').split('/').reduce<any>((node, key) => node?.[key], r.body);
    assert.ok(target, `${ref} resolves`);
  }
});

test('GET /metrics → Prometheus exposition with prom-client default metrics', async () => {
  const r = await h.get('/metrics', { token: null });
  assert.is(r.status, 200);
  assert.is(r.headers.get('content-type'), 'text/plain; version=0.0.4; charset=utf-8');
  assert.match(r.text, /^# HELP process_cpu_user_seconds_total/m);
  assert.match(r.text, /^nodejs_heap_size_total_bytes \d+/m);
});

test('GET /nope → 404 not_found in the error shape', async () => {
  const r = await h.get('/nope', { token: null });
  assert.is(r.status, 404);
  assert.equal(r.body, { error: { code: 'not_found', message: 'no route GET /nope', field: null } });
});

test('DELETE /lifecycle/{subscriber_id} → 405 method_not_allowed with Allow', async () => {
  const r = await h.request('DELETE', `${BASE}/lifecycle/s`);
  assert.is(r.status, 405);
  assert.equal(r.body, { error: { code: 'method_not_allowed', message: `DELETE is not allowed on ${BASE}/lifecycle/s`, field: null } });
  assert.is(r.headers.get('allow'), 'HEAD, GET');
});

test('GET /allocate → 405; PUT /healthz → 405', async () => {
  const r = await h.get(`${BASE}/allocate`);
  assert.is(r.status, 405);
  assert.is(r.body.error.code, 'method_not_allowed');
  assert.is(r.headers.get('allow'), 'POST');
  assert.is((await h.request('PUT', '/healthz', { token: null })).status, 405);
});

test('any request → X-Request-Id echoed when safe, generated otherwise, also on errors', async () => {
  const echoed = await h.get('/healthz', { headers: { 'x-request-id': 'req-123.abc' } });
  assert.is(echoed.headers.get('x-request-id'), 'req-123.abc');
  const replaced = await h.get('/healthz', { headers: { 'x-request-id': 'a b <script>' } });
  assert.match(replaced.headers.get('x-request-id')!, /^[0-9a-f-]{36}$/);
  const error = await h.get(`${BASE}/lifecycle`, { token: null });
  assert.is(error.status, 401);
  assert.match(error.headers.get('x-request-id')!, /^[0-9a-f-]{36}$/);
});

test('any request → one access log line carrying the request id', async () => {
  const r = await h.get(`${BASE}/lifecycle/nobody`, { headers: { 'x-request-id': 'trace-me' } });
  assert.is(r.status, 404);
  const lines = h.logs.filter((l) => l.request_id === 'trace-me' && l.msg === 'request');
  assert.is(lines.length, 1);
  assert.equal(
    { method: lines[0]!.method, path: lines[0]!.path, status: lines[0]!.status, error: lines[0]!.error },
    { method: 'GET', path: `${BASE}/lifecycle/nobody`, status: 404, error: 'not_found' },
  );
});

test('POST /allocate failing on an unexpected exception → 500 without internal details; the log has them', async () => {
  h.ipam.failNext('allocate', { error: () => new Error('SQLITE_CORRUPT: /var/lib/secret.db') });
  const r = await h.post('allocate', { subscriber_id: 's' }, { headers: { 'x-request-id': 'req-500' } });
  assert.is(r.status, 500);
  // The lifecycle is failed at that step: the answer says so and how to resume it (test/review12/failed-internal).
  const message = 'allocate failed at fake_allocate after 1 attempt(s) on an internal error (logged as "step gave up"); POST /retry resumes it';
  assert.equal(r.body, { error: { code: 'internal', message, field: null } });
  assert.not.match(r.text, 'SQLITE');
  assert.not.match(r.text, 'secret');
  assert.not.match(r.text, /\bat .+:\d+/);
  const logged = h.logs.find((l) => l.request_id === 'req-500' && l.level === 'error');
  assert.ok(logged, 'logged at error level with the request id');
  // The exception's own text is in the step's log line, and never in what API clients read later.
  assert.ok(h.logs.some((l) => l.level === 'error' && JSON.stringify(l).includes('SQLITE_CORRUPT')), 'the step log has the cause');
  const later = await h.get(`${BASE}/lifecycle/s`);
  assert.not.match(later.text, 'SQLITE');
  const events = await h.get(`${BASE}/lifecycle/s/events`);
  assert.not.match(events.text, 'SQLITE');
});

test('GET /metrics (JSON summary) when the IPAM throws a TypeError → 500 generic', async () => {
  h.ipam.failNext('utilization', { error: () => new TypeError("Cannot read properties of undefined (reading 'prefix')") });
  const r = await h.get(`${BASE}/metrics`);
  assert.is(r.status, 500);
  assert.is(r.body.error.code, 'internal');
  assert.not.match(r.text, 'Cannot read');
});

test('POST /activate while the ACS is down → 502 with the service’s own message', async () => {
  await h.post('allocate', { subscriber_id: 's' });
  const down = () => new ServiceError('upstream_unavailable', 'ACS unreachable', { retryable: true });
  h.cpe.failNext('configurePd', { error: down, times: 2 });
  const r = await h.post('activate', { subscriber_id: 's', username: 'u', cpe_id: 'OUI-PC-SN' });
  assert.is(r.status, 502);
  assert.is(r.body.error.code, 'upstream_unavailable');
  assert.match(r.body.error.message, /^activate failed at cpe_configure_pd after 2 attempt\(s\): ACS unreachable/);
});

test.run();
