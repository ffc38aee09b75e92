// Review 10 (hostile): the request-line checks (http/request-line.ts) answer 400 on every path, but
// the document declared only 405, 414 and 431 (and 500, 503) for `/healthz`, `/readyz`, `/metrics` and
// `/openapi.json`: `GET /healthz?a=%zz` answered a status its operation does not list. Every status
// the service answers on a path is one the served document declares for it.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startService, type Service } from '../review7/support.ts';

const test = suite('review10 (hostile): the document declares the 400 the request line answers outside /api/');
let svc: Service;
let doc: any;

test.before(async () => {
  svc = await startService(() => ({}));
  doc = (await svc.get('/openapi.json')).body;
});
test.after(async () => svc.close());

test('GET /healthz, /readyz, /metrics, /openapi.json with malformed percent-encoding → 400, and the document lists 400 there', async () => {
  for (const path of ['/healthz', '/readyz', '/metrics', '/openapi.json']) {
    for (const query of ['?a=%zz', '?%E0%A4%A=1']) {
      const r = await fetch(svc.origin + path + query);
      const body = (await r.json()) as { error: { code: string } };
      assert.is(r.status, 400, `${path}${query}`);
      assert.is(body.error.code, 'validation_error');
      const declared = Object.keys(doc.paths[path].get.responses);
      assert.ok(declared.includes('400'), `${path} declares ${declared.join(', ')}`);
    }
  }
});

test('the 400 and 422 descriptions name what the service now checks: a repeated header, the query', async () => {
  const op = doc.paths['/api/v1/network/ipv6/import'].post;
  assert.match(op.responses['400'].description, /header/);
  assert.match(op.responses['422'].description, /query/);
});

test.run();
