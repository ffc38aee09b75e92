import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startNetboxServer, V1_TOKEN, V2_TOKEN, type NetboxServer } from './netbox-server.ts';

// The local NetBox must itself speak the documented contract (../shared/contracts/netbox/README.md),
// or the client tests prove nothing about the real one.
const test = suite('local NetBox server');
const ctx: { s: NetboxServer | null; parent: number } = { s: null, parent: 0 };

test.before.each(async () => {
  ctx.s = await startNetboxServer({ customFields: ['lifecycle_key'] });
  ctx.parent = ctx.s.addPrefix({ prefix: '2001:db8::/48', status: 'container' }).id;
});
test.after.each(() => ctx.s?.close());

async function call(method: string, path: string, body?: unknown, auth: string | null = `Token ${V1_TOKEN}`) {
  const res = await fetch(`${ctx.s?.url}${path}`, {
    method,
    headers: { ...(auth ? { authorization: auth } : {}), ...(body === undefined ? {} : { 'content-type': 'application/json' }) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  return { status: res.status, body: text ? JSON.parse(text) : undefined };
}

const avail = () => `/api/ipam/prefixes/${ctx.parent}/available-prefixes/`;

test('403 without a token, and for a token sent with the wrong scheme', async () => {
  assert.equal(await call('GET', '/api/status/', undefined, null), { status: 403, body: { detail: 'Authentication credentials were not provided.' } });
  assert.is((await call('GET', '/api/status/', undefined, `Bearer ${V1_TOKEN}`)).status, 403);
  assert.is((await call('GET', '/api/status/', undefined, `Bearer ${V2_TOKEN}`)).status, 200);
});

test('POST available-prefixes: one object in, one out (201); a list in, a list out; status read as {value,label}', async () => {
  const one = await call('POST', avail(), { prefix_length: 56, description: 'sub-42 PD', tags: [{ name: 'ipv6-lifecycle' }] });
  assert.is(one.status, 201);
  assert.is(one.body.prefix, '2001:db8::/56');
  assert.equal(one.body.status, { value: 'active', label: 'Active' });
  assert.equal(one.body.custom_fields, { lifecycle_key: null });
  const list = await call('POST', avail(), [{ prefix_length: 64 }, { prefix_length: 52 }]);
  assert.is(list.status, 201);
  assert.equal(list.body.map((p: { prefix: string }) => p.prefix), ['2001:db8:0:100::/64', '2001:db8:0:1000::/52']);
});

test('POST available-prefixes: 400 on a string length, 409 body when exhausted, 404 for an unknown parent', async () => {
  assert.equal(await call('POST', avail(), { prefix_length: '56' }), { status: 400, body: { prefix_length: 'this field must be int type' } });
  assert.equal(await call('POST', avail(), { prefix_length: 47 }), {
    status: 409,
    body: { detail: 'Insufficient resources are available to satisfy the request' },
  });
  assert.is((await call('POST', '/api/ipam/prefixes/999/available-prefixes/', { prefix_length: 56 })).status, 404);
  assert.is((await call('POST', avail(), { prefix_length: 56, custom_fields: { nope: 'x' } })).status, 400);
  assert.is(ctx.s?.prefixes().length, 1, 'nothing was created by the failed requests');
});

test('200 concurrent POSTs get 200 distinct prefixes (allocation is serialized like the advisory lock)', async () => {
  const all = await Promise.all(Array.from({ length: 200 }, () => call('POST', avail(), { prefix_length: 64 })));
  assert.ok(all.every((r) => r.status === 201));
  assert.is(new Set(all.map((r) => r.body.prefix)).size, 200);
});

test('list: pagination with count/next/previous, filters, and unknown parameters ignored', async () => {
  for (let i = 0; i < 5; i++) await call('POST', avail(), { prefix_length: 56, tags: i % 2 ? [{ name: 'ipv6-lifecycle' }] : [] });
  const page = await call('GET', '/api/ipam/prefixes/?within=2001:db8::/48&limit=2&offset=2');
  assert.is(page.body.count, 5);
  assert.match(page.body.next, /limit=2&offset=4$/);
  assert.match(page.body.previous, /limit=2$/);
  assert.equal(page.body.results.map((p: { prefix: string }) => p.prefix), ['2001:db8:0:200::/56', '2001:db8:0:300::/56']);
  assert.is((await call('GET', '/api/ipam/prefixes/?within_include=2001:db8::/48')).body.count, 6);
  assert.is((await call('GET', '/api/ipam/prefixes/?tag=ipv6-lifecycle')).body.count, 2);
  assert.is((await call('GET', '/api/ipam/prefixes/?parent=2001:db8:ffff::/48')).body.count, 6, '?parent= is not a prefix filter');
  assert.is((await call('GET', '/api/ipam/prefixes/?mask_length=48')).body.count, 1);
});

test('PATCH, DELETE 204, and a lost answer that still took effect', async () => {
  const made = await call('POST', avail(), { prefix_length: 56 });
  const patched = await call('PATCH', `/api/ipam/prefixes/${made.body.id}/`, { status: 'deprecated' });
  assert.equal(patched.body.status, { value: 'deprecated', label: 'Deprecated' });
  assert.equal(await call('DELETE', `/api/ipam/prefixes/${made.body.id}/`), { status: 204, body: undefined });
  assert.is((await call('DELETE', `/api/ipam/prefixes/${made.body.id}/`)).status, 404);
  ctx.s?.loseAnswers(1, { method: 'POST' });
  await call('POST', avail(), { prefix_length: 56 }).then(
    () => assert.unreachable('the answer should have been lost'),
    () => undefined,
  );
  assert.is(ctx.s?.prefixes().length, 2, 'the lost POST was committed');
});

test.run();
