// Review 7: renumbering a pool. An ISP moves a pool to a new parent (`pools[].prefix`, README's
// configuration reference), restarts, then moves each subscriber with `POST /update` (API.md:
// "moves an active subscriber to a new prefix; the old one is released"). Until every subscriber
// has moved, lifecycles of the pool still hold prefixes of the old parent.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startService, type Service } from './support.ts';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

const test = suite('review7: a pool moved to a new parent while its lifecycles hold the old one');
const pool = (prefix: string) => ({ pools: [{ name: 'residential', prefix, prefix_length: 56 }] });

test('after the move, GET /metrics counts the lifecycles still on the old parent until they are updated', async () => {
  // What a user sees: the restart with the new parent is silent, and GET /metrics (API.md: pools'
  // `allocated`, `utilization_percent`) shows the pool empty, allocated 0, while four subscribers
  // are active in it; Prometheus's ipv6_pool_allocated_prefixes says 0 too, so
  // Ipv6PoolUtilizationHigh can never fire for a pool in the middle of its renumbering. A pool
  // removed from the configuration keeps counting its live lifecycles (docs/api.md, `draining`);
  // a moved one does not: services/ipam/embedded.ts utilization() counts the new parent's free
  // space only. Expected: `allocated` at least the pool's live lifecycles (or the start refused or
  // warned, naming the pool, as for a pool renamed in place).
  const dir = mkdtempSync(join(tmpdir(), 'review7-renumber-'));
  let svc: Service | null = null;
  try {
    svc = await startService(() => pool('2001:db8::/48'), { dir });
    for (let i = 0; i < 4; i++) {
      await svc.post('allocate', { subscriber_id: `r-${i}` });
      assert.is((await svc.post('activate', { subscriber_id: `r-${i}`, username: `r-${i}` })).body.state, 'active');
    }
    assert.is((await svc.get('metrics')).body.pools[0].allocated, 4);
    await svc.close();
    svc = null;
    svc = await startService(() => pool('2001:db8:1::/48'), { dir });
    const warned = svc.logs.filter((l) => /"level":40/.test(l) || /"level":"warn"/.test(l)).filter((l) => l.includes('residential'));
    const live = ((await svc.get('lifecycle?pool=residential&state=active')).body.items as any[]).length;
    const summary = (await svc.get('metrics')).body.pools[0];
    const gauge = Number(/^ipv6_pool_allocated_prefixes\{pool="residential"\} (\S+)$/m.exec((await svc.get('/metrics')).text)?.[1]);
    assert.is(live, 4);
    // Held (README, "Moving a pool"): both. The figures count them, and the start says why.
    assert.ok(summary.allocated >= live, `allocated ${summary.allocated}, ${live} active on the old parent`);
    assert.ok(gauge >= live, `ipv6_pool_allocated_prefixes ${gauge}`);
    assert.ok(
      warned.some((l) => l.includes('"lifecycles":4') && l.includes('"moved_from":"2001:db8::/48"') && l.includes('"parent":"2001:db8:1::/48"')),
      `a warning naming the pool, both parents and the count: ${warned.join('')}`,
    );

    // Held: the update moves each one into the new parent, and then the figures agree again.
    for (let i = 0; i < 4; i++) assert.match((await svc.post('update', { subscriber_id: `r-${i}` })).body.prefix, /^2001:db8:1:/);
    assert.is((await svc.get('metrics')).body.pools[0].allocated, 4);
  } finally {
    await svc?.close();
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
