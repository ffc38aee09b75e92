import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { contains, parsePrefix } from '../../../services/ipv6.ts';
import { authorizationHeader } from '../../../services/netbox/http.ts';
import { netboxConfigSchema } from '../../../services/netbox/config.ts';
import { createNetboxIpam } from '../../../services/netbox/netbox.ts';
import { asStep, cmd, failure, startHarness } from '../../support/netbox-harness.ts';
import { V1_TOKEN, V2_TOKEN, type NetboxServer } from '../../support/netbox-server.ts';

const ours = (server: NetboxServer, key: string) => server.prefixes().filter((p) => p.customFields.lifecycle_key === key);
const posts = (server: NetboxServer) => server.requests.filter((r) => r.method === 'POST').length;

const allocation = suite('NetBox allocation');

allocation('allocate() sends "Token <40 hex>" for a v1 token and "Bearer nbt_…" for a v2 token', async () => {
  for (const [token, header] of [[V1_TOKEN, `Token ${V1_TOKEN}`], [V2_TOKEN, `Bearer ${V2_TOKEN}`]] as const) {
    const h = await startHarness({ token });
    await h.ipam.allocate(cmd('a'));
    assert.ok(h.server.requests.length >= 3);
    assert.ok(h.server.requests.every((r) => r.authorization === header), `every request carries ${header.slice(0, 6)}…`);
    await h.close();
  }
  assert.throws(() => authorizationHeader('short-token'), /neither a v2 token/);
});

allocation('allocate() POSTs an int prefix_length, status active, the tag and the mark', async () => {
  const h = await startHarness();
  const a = await h.ipam.allocate(cmd('m'));
  assert.equal(a, { prefix: '2001:db8::/56', prefixLength: 56, netboxPrefixId: a.netboxPrefixId });
  const [stored] = ours(h.server, 'm:allocate:1');
  assert.ok(stored);
  assert.is(stored.id, a.netboxPrefixId);
  assert.is(stored.status, 'active');
  assert.equal(stored.tags, ['ipv6-lifecycle']);
  assert.equal(stored.customFields, { lifecycle_id: 'lc-m', lifecycle_subscriber_id: 'sub-m', lifecycle_key: 'm:allocate:1' });
  await h.close();
});

allocation('200 concurrent allocate() calls give 200 distinct prefixes, all inside the parent', async () => {
  const h = await startHarness();
  const all = await Promise.all(Array.from({ length: 200 }, (_, i) => h.ipam.allocate(cmd(`c${i}`))));
  const parent = parsePrefix('2001:db8::/40');
  assert.is(new Set(all.map((a) => a.prefix)).size, 200);
  assert.ok(all.every((a) => { const c = parsePrefix(a.prefix); return c.length === 56 && contains(parent, c); }));
  assert.is(h.server.prefixes().length, 201, 'the parent and exactly 200 children');
  assert.is(h.server.created, 200);
  await h.close();
});

allocation('lost answer: NetBox commits, the 201 never arrives, the step\'s next attempt adopts it and NetBox holds exactly one', async () => {
  const h = await startHarness();
  h.server.loseAnswers(1, { method: 'POST' });
  const a = await asStep(() => h.ipam.allocate(cmd('lost')));
  assert.is(h.server.created, 1, 'one POST took effect');
  assert.is(posts(h.server), 1, 'the retry did not POST again');
  const held = ours(h.server, 'lost:allocate:1');
  assert.is(held.length, 1);
  assert.is(held[0]?.id, a.netboxPrefixId);
  assert.is(held[0]?.prefix, a.prefix);
  await h.close();
});

allocation('crash after the 201: a restarted client re-running the step adopts the prefix instead of allocating again', async () => {
  const h = await startHarness();
  h.server.loseAnswers(1, { method: 'POST' });
  const err = await failure(h.ipam.allocate(cmd('crash')));
  assert.is(err.code, 'upstream_unavailable');
  const restarted = h.client();
  const a = await restarted.allocate(cmd('crash'));
  assert.is(h.server.created, 1);
  assert.equal(ours(h.server, 'crash:allocate:1').map((p) => p.id), [a.netboxPrefixId]);
  await h.close();
});

allocation('a key contained in another key is not mistaken for it (NetBox custom-field filters match loosely)', async () => {
  const h = await startHarness();
  const long = await h.ipam.allocate(cmd('x', { key: 'x:allocate:10' }));
  const short = await h.ipam.allocate(cmd('x', { key: 'x:allocate:1' }));
  assert.is.not(short.prefix, long.prefix);
  assert.is(h.server.created, 2);
  await h.close();
});

allocation('an update allocates under a new key while the old prefix is still held', async () => {
  const h = await startHarness();
  const first = await h.ipam.allocate(cmd('u'));
  const second = await h.ipam.allocate(cmd('u', { key: 'u:update:2' }));
  assert.is.not(second.prefix, first.prefix);
  assert.equal(await h.ipam.allocate(cmd('u')), first);
  await h.close();
});

allocation('description mark: without custom fields the mark goes in the description and is found again', async () => {
  const h = await startHarness({ server: { customFields: [] } });
  h.server.loseAnswers(1, { method: 'POST' });
  const a = await asStep(() => h.ipam.allocate(cmd('d')));
  const [stored, ...rest] = h.server.prefixes().filter((p) => p.id !== 1);
  assert.is(rest.length, 0);
  assert.match(stored?.description ?? '', /^ipv6-lifecycle lc=lc-d key=[\w-]{22} sub=sub-d$/);
  assert.is(stored?.id, a.netboxPrefixId);
  await h.close();
});

const faults = suite('NetBox faults');

faults('one attempt per call: a 503 is the answer, with the Retry-After it carried; nothing is repeated inside the client', async () => {
  const h = await startHarness();
  await h.ipam.init();
  const before = h.server.requests.length;
  h.server.failNext(1, { method: 'POST', retryAfter: '7' });
  const err = await failure(h.ipam.allocate(cmd('once')));
  assert.equal([err.code, err.retryable, err.retryAfterMs, err.attempts], ['upstream_unavailable', true, 7000, 1]);
  assert.equal(h.server.requests.slice(before).map((r) => r.method), ['GET', 'POST'], 'the lookup, then the one POST');
  h.server.failNext(1, { method: 'POST', status: 502 });
  assert.is((await failure(h.ipam.allocate(cmd('once')))).retryAfterMs, null, 'no hint without a Retry-After');
  await h.close();
});

faults('three 503s on the POST, then success: one prefix, the lookup repeated before every POST', async () => {
  const h = await startHarness();
  await h.ipam.init();
  h.server.failNext(3, { method: 'POST' });
  const before = h.server.requests.length;
  const a = await asStep(() => h.ipam.allocate(cmd('f')));
  assert.is(posts(h.server), 4);
  assert.equal(h.server.requests.slice(before).map((r) => r.method).join(' '), 'GET POST GET POST GET POST GET POST');
  assert.is(h.server.created, 1);
  assert.is(ours(h.server, 'f:allocate:1')[0]?.prefix, a.prefix);
  await h.close();
});

faults('NetBox down beyond the retry budget: upstream_unavailable, retryable; three attempts are three requests', async () => {
  const h = await startHarness();
  await h.ipam.init();
  h.server.setDown(true);
  const before = h.server.requests.length;
  const err = await failure(asStep(() => h.ipam.allocate(cmd('down')), { attempts: 3 }));
  assert.is(err.code, 'upstream_unavailable');
  assert.is(err.retryable, true);
  assert.is(err.attempts, 3);
  assert.is(h.server.requests.length - before, 3);
  h.server.setDown(false);
  assert.is((await h.ipam.allocate(cmd('down'))).prefix, '2001:db8::/56', 'works again once NetBox is back');
  await h.close();
});

faults('429: the step waits for Retry-After; a Retry-After beyond retry_after_max_ms ends the step at once', async () => {
  const h = await startHarness();
  await h.ipam.init();
  h.server.failNext(1, { status: 429, retryAfter: '1' });
  const started = Date.now();
  await asStep(() => h.ipam.allocate(cmd('slow')), { retryAfterMaxMs: 5000 });
  assert.ok(Date.now() - started >= 950, `waited ${Date.now() - started} ms`);
  h.server.failNext(1, { status: 429, retryAfter: '60' });
  const err = await failure(asStep(() => h.ipam.allocate(cmd('later')), { retryAfterMaxMs: 5000 }));
  assert.is(err.retryAfterMs, 60_000);
  assert.is(err.code, 'upstream_unavailable');
  assert.is(err.attempts, 1);
  await h.close();
});

faults('a 4xx is not retried: upstream_rejected after one attempt', async () => {
  const h = await startHarness({ server: { tags: [] } });
  const err = await failure(h.ipam.allocate(cmd('notag')));
  assert.is(err.code, 'upstream_rejected');
  assert.is(err.attempts, 1);
  // NetBox's words are for the log (detail); the message, which API answers carry, names status only.
  assert.match(err.detail ?? '', /Related object not found/);
  assert.not.match(err.message, /Related object not found/);
  assert.match(err.message, /: 400$/);
  assert.is(posts(h.server), 1);
  await h.close();
});

faults('a NetBox slower than timeout_ms counts as a failed attempt', async () => {
  const h = await startHarness({ config: { timeout_ms: 100 } });
  await h.ipam.init();
  h.server.delayMs = 400;
  const err = await failure(asStep(() => h.ipam.allocate(cmd('t')), { attempts: 2 }));
  assert.is(err.code, 'upstream_unavailable');
  assert.is(err.attempts, 2);
  assert.match(err.message, /timed out after 100 ms/);
  await h.close();
});

faults('an aborted signal ends the call at once, without waiting for NetBox or the retries', async () => {
  const h = await startHarness({ config: { timeout_ms: 10_000 } });
  await h.ipam.init();
  h.server.delayMs = 3000;
  const started = Date.now();
  const signal = AbortSignal.timeout(50);
  const err = await failure(asStep(() => h.ipam.allocate(cmd('abort'), signal), {}, signal));
  assert.is(err.code, 'timeout');
  assert.ok(Date.now() - started < 1000, `took ${Date.now() - started} ms`);
  await h.close();
});

faults('a 200 that is not NetBox\'s JSON (a login page at the wrong URL) is upstream_rejected, not retried', async () => {
  const html = createServer((_req, res) => res.writeHead(200, { 'content-type': 'text/html' }).end('<html>login</html>'));
  await new Promise<void>((resolve) => html.listen(0, '127.0.0.1', resolve));
  const config = netboxConfigSchema.parse({ url: `http://127.0.0.1:${(html.address() as AddressInfo).port}` });
  const ipam = createNetboxIpam(config, [{ name: 'p', prefixLength: 56, netbox: { parent_id: 1 } }], pino({ level: 'silent' }), {
    env: { NETBOX_TOKEN: V1_TOKEN },
  });
  const err = await failure(asStep(() => ipam.init()));
  assert.is(err.code, 'upstream_rejected');
  assert.is(err.attempts, 1);
  assert.match(err.message, /check netbox.url/);
  html.closeAllConnections();
  await new Promise((resolve) => html.close(resolve));
});

faults('the token never appears in an error message, an error as JSON, or a log line', async () => {
  const seen: string[] = [];
  const h = await startHarness();
  const refused = await startHarness({ token: 'f'.repeat(40) });
  seen.push(...[await failure(refused.ipam.allocate(cmd('r')))].map((e) => `${e.message} ${e.stack} ${JSON.stringify(e)}`));
  h.server.setDown(true);
  const down = await failure(asStep(() => h.ipam.allocate(cmd('x')), { attempts: 2 }));
  seen.push(`${down.message} ${down.stack} ${JSON.stringify(down)}`);
  assert.match(seen.join('\n'), /refused the token from NETBOX_TOKEN/);
  for (const text of [...seen, ...h.logs, ...refused.logs]) {
    assert.not.ok(text.includes(V1_TOKEN) || text.includes('f'.repeat(40)), 'a token leaked');
  }
  await Promise.all([h.close(), refused.close()]);
});

const start = suite('NetBox start-up');

start('init() resolves parents by prefix in a VRF (by id or RD) and rejects what NetBox does not have', async () => {
  const h = await startHarness({
    pools: (s) => {
      const vrf = s.addVrf('cust', '65000:1');
      s.addPrefix({ prefix: '2001:db8::/40' }); // same prefix, global table: must not be picked
      const inVrf = s.addPrefix({ prefix: '2001:db8::/40', vrfId: vrf.id });
      return [
        { name: 'by-id', prefixLength: 56, netbox: { parent_prefix: '2001:db8::/40', vrf_id: vrf.id } },
        { name: 'by-rd', prefixLength: 60, prefix: '2001:db8::/40', netbox: { parent_prefix: '2001:0db8::/40', vrf: '65000:1' } },
        { name: 'direct', prefixLength: 64, netbox: { parent_id: inVrf.id } },
      ];
    },
  });
  assert.equal((await h.ipam.init()).map((p) => `${p.name} ${p.prefix} /${p.prefixLength}`), [
    'by-id 2001:db8::/40 /56',
    'by-rd 2001:db8::/40 /60',
    'direct 2001:db8::/40 /64',
  ]);
  const a = await h.ipam.allocate(cmd('v', { pool: 'by-rd', prefixLength: 60 }));
  assert.is(h.server.table.rows.get(a.netboxPrefixId ?? 0)?.vrfId, 1, 'the child is created in the parent VRF');
  await h.close();
  const missing = await startHarness({ pools: () => [{ name: 'p', prefixLength: 56, netbox: { parent_prefix: '2001:db8:1::/48', vrf: '1:1' } }] });
  assert.is((await failure(missing.ipam.init())).code, 'not_found');
  await missing.close();
});

start('configuration errors: no token variable, a pool prefix NetBox contradicts, custom fields missing', async () => {
  const config = netboxConfigSchema.parse({ url: 'http://127.0.0.1:9', token_env: 'NB_TOKEN_FOR_TEST' });
  assert.throws(() => createNetboxIpam(config, [], pino({ level: 'silent' }), { env: {} }), /NB_TOKEN_FOR_TEST is not set/);
  const h = await startHarness({
    server: { customFields: [] },
    config: { mark: 'custom_fields' },
    pools: (s) => [{ name: 'p', prefixLength: 56, prefix: '2001:db8::/40', netbox: { parent_id: s.addPrefix({ prefix: '2001:db8::/40' }).id } }],
  });
  const err = await failure(h.ipam.init());
  assert.is(err.code, 'validation_error');
  assert.match(err.message, /lifecycle_id, lifecycle_subscriber_id, lifecycle_key/);
  const wrong = h.client({ mark: 'auto' });
  assert.is((await wrong.init()).length, 1, 'auto falls back to the description');
  await h.close();
  assert.not.ok(netboxConfigSchema.safeParse({ url: 'ftp://x' }).success);
});

allocation.run();
faults.run();
start.run();
