import { request } from 'node:http';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { lifecycleLocation } from '../../http/routes/route.ts';
import { BASE, startHarness, type Harness } from './support.ts';

const test = suite('http lifecycleLocation');
let h: Harness;
test.after(async () => h?.close());

// RFC 3986 §5.2.4 on the path as written, as curl applies it: %2E is not decoded first.
function removeDotSegments(path: string): string {
  const out: string[] = [];
  for (const segment of path.split('/')) {
    if (segment === '..') out.pop();
    else if (segment !== '.') out.push(segment);
  }
  return out.join('/');
}

/** GET `location` as curl does: its dot segments removed, the rest sent as it is. */
function follow(location: string): Promise<{ status: number; body: any }> {
  return new Promise((resolve, reject) => {
    const { hostname, port } = new URL(h.origin);
    const req = request({ host: hostname, port, path: removeDotSegments(location), headers: { authorization: `Bearer ${h.token}` } }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (c: string) => (text += c));
      res.on('end', () => resolve({ status: res.statusCode ?? 0, body: JSON.parse(text) }));
    });
    req.on('error', reject);
    req.end();
  });
}

test('lifecycleLocation(id) → one path segment, "." and ".." spelt %2E: curl keeps them and the GET route reads them back', async () => {
  assert.is(lifecycleLocation('.'), `${BASE}/lifecycle/%2E`);
  assert.is(lifecycleLocation('..'), `${BASE}/lifecycle/%2E%2E`);
  assert.is(lifecycleLocation('...'), `${BASE}/lifecycle/...`);
  assert.is(lifecycleLocation('../a/b'), `${BASE}/lifecycle/..%2Fa%2Fb`);
  h = await startHarness();
  // Lifecycles under these ids, as an import or an earlier version could have made them.
  for (const id of ['.', '..']) {
    await h.composed.service.allocate({ subscriber_id: id }, 5000);
    const got = await follow(lifecycleLocation(id));
    assert.is(got.status, 200, id);
    assert.is(got.body.subscriber_id, id);
  }
});

test.run();
