// Review 18 (issue 10): the clean-up reclaimed each leaked prefix by reading its lifecycle and
// freeing it in IPAM, both answered at once by the SQLite store and the embedded IPAM: awaiting them
// gave the event loop nothing back, so 100,000 leaked prefixes were reclaimed in one turn. It now
// gives the loop back every LEAK_SLICE findings, and reclaims every one as before.
import pino from 'pino';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createCleanup } from '../../runtime/cleanup.ts';
import type { Discrepancy } from '../../runtime/inventory.ts';
import { LEAK_SLICE } from '../../runtime/leak-counter.ts';
import type { IpamPort } from '../../services/ipam/port.ts';
import { perTurn } from '../support/event-loop.ts';
import { lifecycleRow } from '../support/lifecycle-rows.ts';

const test = suite('review18: leaked prefixes reclaimed a slice per turn');
const N = 3 * LEAK_SLICE + 5;

test(`${N} leaked prefixes of settled lifecycles: every one freed, at most LEAK_SLICE in one turn`, async () => {
  const found: Discrepancy[] = Array.from({ length: N }, (_, i) => ({ kind: 'leaked', pool: 'residential', prefix: `2001:db8:${i.toString(16)}::/56`, lifecycle_id: `lc-${i}` }));
  const t = perTurn(() => ({ freed: 0 }));
  const freed: string[] = [];
  const ipam = {
    free: async (cmd: { prefix: string }) => void (t.now().freed++, freed.push(cmd.prefix)),
  } as unknown as IpamPort;
  const cleanup = createCleanup({
    store: { list: async () => [], get: async (id) => lifecycleRow({ id, state: 'revoked' }) },
    service: { revoke: async () => { throw new Error('not called'); } },
    ipam,
    inventory: { check: async () => found, discrepancies: async () => found, refresh: async () => 0 },
    log: pino({ level: 'silent' }),
    staleAllocatedAfterS: 0,
    reclaimLeaks: true,
  });
  const { reclaimed } = await cleanup.leaks();
  t.stop();
  assert.is(reclaimed, N);
  assert.equal(freed, found.map((d) => d.prefix));
  const most = Math.max(...t.turns.map((x) => x.freed));
  assert.ok(most <= LEAK_SLICE, `${most} freed in one turn`);
});

test.run();
