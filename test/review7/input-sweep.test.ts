// Review 7 (held): every POST route of API.md, every field, with wrong types, huge values, control
// characters, lone surrogates and blanks, and `?wait=` and `Idempotency-Key` likewise. README:
// "Bad input gets a 4xx that names the field, and nothing changes". Checked against the lifecycles
// of every state the routes act on, their trails and GET /metrics, read before and after.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startService, type Service } from './support.ts';

const test = suite('review7 (held): wrong input on every route and field is a 400 naming it, and changes nothing');
let svc: Service;

const huge = 'x'.repeat(20_000);
const notString = [1, -1, 0.5, 1e308, true, false, [], ['a'], {}, { a: 1 }];
const badName = [...notString, null, '', ' \t ', 'a\u0000b', 'a\u0085b', '\ud800', 'x'.repeat(254), huge];
const badLength = ['56', 56.5, 0, -56, 65, 1e308, true, null, [], {}, 2 ** 53];
const badCpe = [...notString, '', 'has space', 'a/b', 'é', 'x'.repeat(256)];
const badReason = [...notString, 'a\u0000b', 'x'.repeat(501)];
const badPool = [...notString, null, '', 'x'.repeat(64)];

// Each route with a valid body for a subscriber in a state it accepts, and the wrong values per field.
const ROUTES: Record<string, { id: string; body: Record<string, unknown>; bad: Record<string, unknown[]> }> = {
  allocate: { id: 'fresh', body: { subscriber_id: 'fresh', pool: 'residential', prefix_length: 56 }, bad: { subscriber_id: badName, pool: badPool, prefix_length: badLength } },
  activate: { id: 'allocated', body: { subscriber_id: 'allocated', username: 'u@isp.example', cpe_id: 'CPE-1' }, bad: { subscriber_id: badName, username: badName, cpe_id: badCpe } },
  suspend: { id: 'active', body: { subscriber_id: 'active', reason: 'unpaid' }, bad: { subscriber_id: badName, reason: badReason } },
  reactivate: { id: 'suspended', body: { subscriber_id: 'suspended' }, bad: { subscriber_id: badName } },
  revoke: { id: 'active', body: { subscriber_id: 'active', reason: 'gone' }, bad: { subscriber_id: badName, reason: badReason } },
  update: { id: 'active', body: { subscriber_id: 'active', prefix_length: 56, pool: 'residential' }, bad: { subscriber_id: badName, prefix_length: badLength, pool: badPool } },
  retry: { id: 'active', body: { subscriber_id: 'active' }, bad: { subscriber_id: badName } },
};

test.before(async () => {
  svc = await startService(() => ({ pools: [{ name: 'residential', prefix: '2001:db8::/40', prefix_length: 56 }] }));
  await svc.post('allocate', { subscriber_id: 'allocated' });
  for (const id of ['active', 'suspended']) {
    await svc.post('allocate', { subscriber_id: id });
    await svc.post('activate', { subscriber_id: id, username: `${id}@isp.example` });
  }
  await svc.post('suspend', { subscriber_id: 'suspended' });
});
test.after(async () => svc.close());

const world = async () =>
  JSON.stringify(await Promise.all([
    ...['allocated', 'active', 'suspended'].flatMap((id) => [svc.get(`lifecycle/${id}`), svc.get(`lifecycle/${id}/events`)].map((p) => p.then((r) => r.body))),
    svc.get('lifecycle/fresh').then((r) => r.status),
    svc.get('lifecycle?limit=1000').then((r) => r.body),
    svc.get('metrics').then((r) => r.body),
  ]));

test('each wrong value of each field of each route: 400, `field` names it, and the lifecycles, their trails and the metrics are as before', async () => {
  const before = await world();
  const wrong: string[] = [];
  let sent = 0;
  for (const [route, { body, bad }] of Object.entries(ROUTES)) {
    for (const [field, values] of Object.entries(bad)) {
      for (const value of values) {
        const r = await svc.post(`${route}?wait=0`, { ...body, [field]: value });
        sent++;
        if (r.status !== 400 || r.body.error?.field !== field) wrong.push(`${route} ${field}=${JSON.stringify(value).slice(0, 30)}: ${r.status} ${r.text.slice(0, 120)}`);
      }
    }
    // A field no route has, and a body that is not an object.
    for (const [extra, field] of [[{ ...body, subscriber: 'x' }, 'subscriber'], [{ ...body, __proto__x: 1 }, '__proto__x']] as const) {
      const r = await svc.post(route, extra);
      sent++;
      if (r.status !== 400 || r.body.error?.field !== field) wrong.push(`${route} extra ${field}: ${r.status} ${r.text.slice(0, 120)}`);
    }
    for (const wait of ['-1', '1.5', '60001', 'soon', '']) {
      const r = await svc.post(`${route}?wait=${wait}`, body);
      sent++;
      if (r.status !== 400 || r.body.error?.field !== 'wait') wrong.push(`${route} wait=${wait}: ${r.status} ${r.text.slice(0, 120)}`);
    }
    // 'é' goes out as the one Latin-1 byte E9, as a header value is bytes.
    for (const key of ['has space', '\u00e9', 'x'.repeat(256)]) {
      const r = await svc.post(route, body, { 'idempotency-key': key });
      sent++;
      if (r.status !== 400 || r.body.error?.field !== 'Idempotency-Key') wrong.push(`${route} key ${key.slice(0, 20)}: ${r.status} ${r.text.slice(0, 120)}`);
    }
  }
  assert.equal(wrong, [], `${wrong.length} of ${sent} answers`);
  assert.ok(sent > 300, `${sent} requests`);
  assert.is(await world(), before, 'nothing changed');
});

test('the same routes with their valid bodies still work afterwards (the sweep did not wedge a subscriber)', async () => {
  assert.is((await svc.post('activate', ROUTES.activate!.body)).body.state, 'active');
  assert.is((await svc.post('reactivate', ROUTES.reactivate!.body)).body.state, 'active');
  assert.is((await svc.post('update', ROUTES.update!.body)).body.state, 'active');
  assert.is((await svc.post('revoke', ROUTES.revoke!.body)).body.state, 'revoked');
  assert.is((await svc.post('allocate', ROUTES.allocate!.body)).status, 201);
});

test.run();
