import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { netboxConfigSchema } from '../../../services/netbox/config.ts';
import { cmd, failure, startHarness } from '../../support/netbox-harness.ts';

const test = suite('NetBox allocation against a slow NetBox');
const posts = (h: Awaited<ReturnType<typeof startHarness>>) => h.server.requests.filter((r) => r.method === 'POST').length;

test('netbox.allocate_timeout_ms defaults to a minute: long enough for NetBox\'s allocation lock queue', () => {
  const c = netboxConfigSchema.parse({ url: 'https://netbox.example.net' });
  assert.equal([c.timeout_ms, c.allocate_timeout_ms], [5000, 60_000]);
});

test('the allocation POST waits for allocate_timeout_ms, not timeout_ms: a slow lock queue is no failure', async () => {
  const h = await startHarness({ server: { allocationMs: 300 }, config: { timeout_ms: 100 } });
  const a = await h.ipam.allocate(cmd('q'));
  assert.is(a.prefix, '2001:db8::/56');
  assert.equal([h.server.created, posts(h)], [1, 1]);
  await h.close();
});

test('a POST that times out and commits after the next attempt\'s lookup: that attempt keeps the first, NetBox holds one', async () => {
  const h = await startHarness({ server: { allocationMs: 600 }, config: { timeout_ms: 100, allocate_timeout_ms: 400 } });
  const first = await failure(h.ipam.allocate(cmd('t')));
  assert.is(first.code, 'upstream_unavailable');
  assert.match(first.message, /timed out after 400 ms/);
  // The first POST still holds NetBox's lock: the next attempt's lookup finds nothing and POSTs again.
  h.server.allocationMs = 0;
  const second = await h.ipam.allocate(cmd('t'));
  await h.server.allocationsDone();
  assert.is(h.server.created, 2, 'both POSTs committed');
  const held = h.server.prefixes().filter((p) => p.customFields.lifecycle_key === 't:allocate:1');
  assert.equal(held.map((p) => [p.id, p.prefix]), [[second.netboxPrefixId, second.prefix]], 'the first POST\'s prefix is kept, the second\'s deleted');
  await h.close();
});

test.run();
