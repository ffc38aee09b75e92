// Walks the served OpenAPI document and holds it to what the service does: statuses, limits,
// headers, formats, security and servers. Then a few real answers are validated against it.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { BASE, startHarness, type Answer, type Harness } from './support.ts';
import { validate } from './schema-check.ts';

const test = suite('http openapi');
let h: Harness;
let doc: any;
test.before(async () => {
  h = await startHarness();
  doc = (await h.get('/openapi.json', { token: null })).body;
});
test.after(async () => {
  await h.close();
});

const operations = () =>
  Object.entries(doc.paths as Record<string, Record<string, any>>).flatMap(([path, item]) => Object.entries(item).map(([method, op]) => ({ where: `${method} ${path}`, path, method, op })));

const resolve = (node: any): any => (node?.$ref ? resolve(node.$ref.replace(/^#\//, '').split('/').reduce((n: any, k: string) => n?.[k], doc)) : node);

test('a servers entry', () => {
  assert.ok(Array.isArray(doc.servers) && doc.servers.length > 0, 'servers is a non-empty list');
  for (const s of doc.servers) assert.type(s.url, 'string');
});

test('the list of lifecycles declares 404 (an unknown pool) and really answers it', async () => {
  const list = doc.paths[`${BASE}/lifecycle`].get;
  assert.ok(list.responses['404'], 'listLifecycles documents 404');
  const r = await h.get(`${BASE}/lifecycle?pool=nope`);
  assert.is(r.status, 404);
});

test('prefix_length is at most 64 wherever a body takes it', async () => {
  for (const op of ['allocate', 'update']) {
    const body = resolve(doc.paths[`${BASE}/${op}`].post.requestBody.content['application/json'].schema);
    assert.is(resolve(body.properties.prefix_length).maximum, 64, `${op} prefix_length maximum`);
  }
  const r = await h.post('allocate', { subscriber_id: 'len', prefix_length: 65 });
  assert.is(r.status, 400);
  assert.is(r.body.error.message, 'prefix_length: must be at most 64');
});

test('405 is declared on every operation, and answered', async () => {
  for (const { where, op } of operations()) assert.ok(op.responses['405'], `${where} documents 405`);
  const r = await h.request('DELETE', `${BASE}/allocate`);
  assert.is(r.status, 405);
});

test('every timestamp says format: date-time', () => {
  const schemas = doc.components.schemas as Record<string, any>;
  const found: string[] = [];
  const walk = (node: any, where: string): void => {
    if (!node || typeof node !== 'object') return;
    for (const [k, v] of Object.entries(node.properties ?? {})) {
      if (/(_at|^at)$/.test(k)) {
        found.push(`${where}.${k}`);
        const s = resolve(v);
        const variants = s.anyOf ? s.anyOf.map(resolve) : [s];
        assert.ok(variants.some((x: any) => x.format === 'date-time'), `${where}.${k} has format date-time: ${JSON.stringify(s)}`);
      }
      walk(resolve(v), `${where}.${k}`);
    }
    if (node.items) walk(resolve(node.items), `${where}[]`);
    for (const alt of node.anyOf ?? []) walk(resolve(alt), where);
  };
  for (const [name, s] of Object.entries(schemas)) walk(s, name);
  for (const must of ['Lifecycle.allocated_at', 'Lifecycle.activated_at', 'Lifecycle.updated_at', 'Lifecycle.pending[].next_attempt_at', 'Failure.at']) {
    assert.ok(found.includes(must), `${must} was checked (found ${found.join(', ')})`);
  }
});

test('X-Request-Id on every response, Retry-After on every 503, Idempotent-Replayed on POST answers', () => {
  for (const { where, method, op } of operations()) {
    for (const [status, response] of Object.entries<any>(op.responses)) {
      const headers = resolve(response).headers ?? {};
      assert.ok(headers['X-Request-Id'], `${where} ${status} declares X-Request-Id`);
      if (status === '503') assert.ok(headers['Retry-After'], `${where} 503 declares Retry-After`);
      if (method === 'post' && /^(200|201|4\d\d)$/.test(status) && !['401', '413', '414', '415', '422', '431'].includes(status)) {
        assert.ok(headers['Idempotent-Replayed'], `${where} ${status} declares Idempotent-Replayed`);
      }
    }
  }
});

test('GET /metrics declares no security by default, the metrics bearer when metrics_token_env is set', async () => {
  assert.equal(doc.paths['/metrics'].get.security, []);
  assert.not.ok(doc.components.securitySchemes.metrics_bearer);
  const m = await startHarness({ metricsToken: true });
  try {
    const d = (await m.get('/openapi.json', { token: null })).body;
    assert.equal(d.paths['/metrics'].get.security, [{ metrics_bearer: [] }]);
    assert.equal(d.components.securitySchemes.metrics_bearer.scheme, 'bearer');
    assert.ok(d.paths['/metrics'].get.responses['401']);
    assert.is((await m.get('/metrics', { token: null })).status, 401);
  } finally {
    await m.close();
  }
});

test('every operation of the document is served, and no other path: the same path with a trailing slash is 404', async () => {
  await h.post('allocate', { subscriber_id: 'slash' });
  const wrong: string[] = [];
  for (const { where, path, method } of operations()) {
    const url = path.replace('{subscriber_id}', 'slash').replace('{job}', 'cleanup');
    const opts = method === 'post' ? { json: { subscriber_id: 'slash' } } : {};
    const exact = await h.request(method.toUpperCase(), url, opts);
    if (exact.status === 404 && /^no route/.test(exact.body?.error?.message ?? '')) wrong.push(`${where} is not served (404)`);
    const slash = await h.request(method.toUpperCase(), `${url}/`, opts);
    if (slash.status !== 404) wrong.push(`${where} + '/' answered ${slash.status}`);
  }
  assert.equal(wrong, []);
});

test('every example in the document validates against the schema it is the example of', () => {
  const wrong: string[] = [];
  let seen = 0;
  const walk = (node: any, where: string): void => {
    if (!node || typeof node !== 'object') return;
    if (!Array.isArray(node) && 'example' in node) {
      seen++;
      const { example, ...schema } = node;
      const problems = validate(schema, example, doc);
      if (problems.length) wrong.push(`${where}: ${JSON.stringify(example)}: ${problems.join('; ')}`);
    }
    for (const [k, v] of Object.entries(node)) walk(v, `${where}/${k}`);
  };
  walk(doc, '#');
  assert.ok(seen >= 40, `only ${seen} examples found`);
  assert.equal(wrong, []);
});

test('info.description claims ?wait= of no POST that refuses it', async () => {
  const refusing = operations().filter(({ method, op }) => method === 'post' && !(op.parameters ?? []).some((p: any) => p.name === 'wait'));
  assert.ok(refusing.length > 0, 'jobs and import take no ?wait=');
  for (const { where, path } of refusing) {
    assert.not.match(doc.info.description, /every POST accepts[^.;]*\?wait=/i, `${where} takes no ?wait=`);
    const r = await h.request('POST', `${path.replace('{job}', 'cleanup')}?wait=10`, { json: {} });
    assert.is(r.status, 400, `${where}?wait=10`);
  }
});

/** Validates `r` against the response the document declares for its operation and status. */
function conforms(r: Answer, method: string, path: string) {
  const op = doc.paths[path][method];
  const response = resolve(op.responses[String(r.status)]);
  assert.ok(response, `${method} ${path} documents ${r.status}`);
  const schema = response.content?.['application/json']?.schema;
  assert.ok(schema, `${method} ${path} ${r.status} has a JSON schema`);
  const problems = validate(schema, r.body, doc);
  assert.equal(problems, [], `${method} ${path} ${r.status}: ${problems.join('; ')}`);
  for (const name of Object.keys(response.headers ?? {})) {
    if (name === 'Idempotent-Replayed' || name === 'Retry-After') continue;
    if (name === 'Location' && r.status === 200) continue;
    assert.ok(r.headers.get(name), `${method} ${path} ${r.status} sends ${name}`);
  }
}

test('real answers validate against the document', async () => {
  conforms(await h.post('allocate', { subscriber_id: 'doc-1' }), 'post', `${BASE}/allocate`);
  conforms(await h.post('activate', { subscriber_id: 'doc-1', username: 'doc@example.net' }), 'post', `${BASE}/activate`);
  conforms(await h.post('activate', { subscriber_id: 'doc-1', username: 'doc@example.net' }), 'post', `${BASE}/activate`);
  conforms(await h.post('allocate', {}), 'post', `${BASE}/allocate`);
  conforms(await h.get(`${BASE}/lifecycle/doc-1`), 'get', `${BASE}/lifecycle/{subscriber_id}`);
  conforms(await h.get(`${BASE}/lifecycle/doc-1/events`), 'get', `${BASE}/lifecycle/{subscriber_id}/events`);
  conforms(await h.get(`${BASE}/lifecycle?limit=2`), 'get', `${BASE}/lifecycle`);
  conforms(await h.get(`${BASE}/lifecycle?pool=nope`), 'get', `${BASE}/lifecycle`);
  conforms(await h.get(`${BASE}/metrics`), 'get', `${BASE}/metrics`);
  conforms(await h.get('/healthz'), 'get', '/healthz');
  for (const query of ['?dry_run=true', '']) conforms(await h.request('POST', `${BASE}/jobs/cleanup${query}`), 'post', `${BASE}/jobs/{job}`);
  conforms(await h.request('POST', `${BASE}/jobs/nightly`), 'post', `${BASE}/jobs/{job}`);
});

test.run();
