// Review 8b: docs/api.md, "The request line": "A URL over 8 KiB is 414 uri_too_long; a request line
// and headers over 16 KiB together is 431 headers_too_large, answered before the request reaches a
// route". That holds for every path, so the document should declare both on the routes outside
// `/api/` too, as it does on every `/api/` route; a client generated from it otherwise meets an
// answer it was told cannot come.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startService, type Service } from '../review7/support.ts';

const test = suite('review8b: statuses answered on the routes outside /api/ are in the document');
let svc: Service;
test.before(async () => {
  svc = await startService(() => ({}));
});
test.after(async () => svc.close());

test('REVIEW8 GET /healthz, /readyz, /metrics, /openapi.json answer 414 and 431, and the document declares both', async () => {
  const doc = (await svc.get('/openapi.json')).body;
  const undeclared: string[] = [];
  for (const path of ['/healthz', '/readyz', '/metrics', '/openapi.json']) {
    const long = await fetch(`${svc.origin}${path}?pad=${'a'.repeat(9000)}`);
    await long.arrayBuffer();
    const big = await fetch(svc.origin + path, { headers: { 'x-pad': 'b'.repeat(17_000) } });
    await big.arrayBuffer();
    assert.is(long.status, 414, path);
    assert.is(big.status, 431, path);
    for (const status of ['414', '431']) if (!doc.paths[path].get.responses[status]) undeclared.push(`${path} ${status}`);
  }
  assert.equal(undeclared, [], `answered but not declared: ${undeclared.join(', ')}`);
});

test.run();
