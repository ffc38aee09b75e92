// Review 11 (inputs): what HEAD and OPTIONS get. Found already right, pinned here: HEAD is GET without
// the body (same status and headers, same token); OPTIONS answers `Allow` and nothing else, and under
// /api/ only with the token: without it every path, served or not, is the same 401, so it tells
// nobody which routes exist, and no handler runs for it.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { BASE, METRICS_TOKEN, startHarness, type Answer, type Harness } from '../http/support.ts';

const test = suite('review11 (inputs): HEAD and OPTIONS');
let h: Harness;
let doc: { paths: Record<string, Record<string, { security: Record<string, unknown>[] }>> };

test.before(async () => {
  h = await startHarness({ metricsToken: true });
  assert.is((await h.post('allocate', { subscriber_id: 'sub-h' })).status, 201);
  doc = (await h.get('/openapi.json')).body;
});
test.after(async () => h.close());

const url = (path: string) => path.replace('{subscriber_id}', 'sub-h');
const tokenOf = (path: string) => {
  const scheme = Object.keys(doc.paths[path]!.get?.security[0] ?? {})[0];
  return scheme === 'bearer' ? h.token : scheme === 'metrics_bearer' ? METRICS_TOKEN : null;
};
const gets = () => Object.keys(doc.paths).filter((p) => doc.paths[p]!.get);
const head = (a: Answer) => ({ status: a.status, type: a.headers.get('content-type'), auth: a.headers.get('www-authenticate'), allow: a.headers.get('allow') });
// Bodies that change from one request to the next (counters, gauges) only differ in length.
const moving = new Set(['/metrics', `${BASE}/metrics`]);

test('HEAD of every GET route: the GET answer without its body', async () => {
  assert.equal(gets().length, 9, 'every GET route of the document');
  for (const path of [...gets(), `${BASE}/lifecycle/nobody`, `${BASE}/lifecycle?limit=0`]) {
    const token = doc.paths[path] ? tokenOf(path) : h.token;
    const got = await h.get(url(path), { token });
    const heard = await h.request('HEAD', url(path), { token });
    assert.equal(head(heard), head(got), path);
    assert.is(heard.text, '', path);
    if (!moving.has(path)) assert.is(heard.headers.get('content-length'), got.headers.get('content-length'), path);
  }
});

test('HEAD without the token, or with a wrong one, is the GET 401: no route answers it', async () => {
  for (const path of gets().filter((p) => tokenOf(p) !== null)) {
    for (const token of [null, 'wrong-token']) {
      const heard = await h.request('HEAD', url(path), { token });
      const got = await h.get(url(path), { token });
      assert.equal([heard.status, head(heard)], [401, head(got)], `${path} ${token}`);
      assert.is(heard.text, '');
    }
  }
});

test('OPTIONS under /api/ without the token: the same 401 for a route, an operation and no route at all', async () => {
  const nothing = await h.request('OPTIONS', `${BASE}/no-such-route`, { token: null });
  assert.equal([nothing.status, nothing.body.error.code, nothing.headers.get('allow')], [401, 'unauthorized', null]);
  for (const path of [`${BASE}/lifecycle`, `${BASE}/lifecycle/sub-h`, `${BASE}/allocate`, `${BASE}/import`]) {
    for (const token of [null, 'wrong-token']) {
      const r = await h.request('OPTIONS', path, { token });
      assert.equal([r.status, head(r)], [401, head(nothing)], `${path} ${token}`);
    }
  }
});

test('OPTIONS with the token: 200, Allow the document\'s methods (GET with HEAD), no body, nothing done', async () => {
  const before = (await h.get(`${BASE}/lifecycle`)).body.items.length;
  for (const [path, ops] of Object.entries(doc.paths)) {
    const r = await h.request('OPTIONS', url(path).replace('{job}', 'cleanup'), { token: tokenOf(path) ?? h.token });
    const methods = Object.keys(ops).flatMap((m) => (m === 'get' ? ['HEAD', 'GET'] : [m.toUpperCase()]));
    assert.equal([r.status, r.headers.get('allow'), r.headers.get('content-length'), r.text], [200, methods.join(', '), '0', ''], path);
  }
  assert.is((await h.get(`${BASE}/lifecycle`)).body.items.length, before);
  const unknown = await h.request('OPTIONS', `${BASE}/no-such-route`);
  assert.equal([unknown.status, unknown.headers.get('allow')], [404, null]);
});

test('OPTIONS of /metrics without its token answers Allow only, never the exposition', async () => {
  const r = await h.request('OPTIONS', '/metrics', { token: null });
  assert.equal([r.status, r.headers.get('allow'), r.text], [200, 'HEAD, GET', '']);
  assert.is((await h.get('/metrics', { token: null })).status, 401);
});

test.run();
