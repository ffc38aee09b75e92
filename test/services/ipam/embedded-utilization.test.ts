import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createEmbeddedIpam } from '../../../services/ipam/embedded.ts';
import type { EmbeddedPool } from '../../../services/ipam/pool-rules.ts';
import { fromHex, parsePrefix } from '../../../services/ipv6.ts';
import { blocksUsed } from '../../../services/ipam/units.ts';
import { allocate, quarantine, release, scratchDb } from './embedded-support.ts';

// utilization() reads the free runs and the quarantine, not the allocated blocks (a scrape must
// not read a million rows): its figures must still be those the blocks give.
const test = suite('embedded ipam: utilization() from the free space');
const s = scratchDb(test);

const T0 = Date.parse('2030-01-01T00:00:00.000Z');
const POOL: EmbeddedPool = { name: 'p', prefix: '2001:db8::/44', prefixLength: 56, holdDownS: 60, sticky: false };

/** The figures as the blocks give them: allocated and not-yet-reusable quarantined units. */
function fromBlocks(nowMs: number) {
  const parent = parsePrefix(POOL.prefix);
  const db = s.db();
  const blocks = (db.prepare('SELECT start_hex, prefix_length FROM ipam_allocations WHERE pool = ?').all(POOL.name) as { start_hex: string; prefix_length: number }[]).map(
    (r) => ({ network: fromHex(r.start_hex), length: r.prefix_length }),
  );
  const held = (db.prepare('SELECT prefix FROM ipam_quarantine WHERE pool = ? AND reusable_at > ?').all(POOL.name, new Date(nowMs).toISOString()) as { prefix: string }[]).map((r) =>
    parsePrefix(r.prefix),
  );
  return { allocated: Number(blocksUsed(parent, POOL.prefixLength, [...blocks, ...held])), heldDown: Number(blocksUsed(parent, POOL.prefixLength, held)) };
}

test('after random allocations of mixed lengths, quarantines, frees and passing hold-downs, the figures equal the blocks’', async () => {
  const clock = { t: T0 };
  const ipam = createEmbeddedIpam(s.db(), [POOL], { now: () => clock.t });
  // A fixed pseudo-random walk: the same run every time.
  let seed = 7;
  const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), Math.floor(seed / 65536) % n);
  const live: { key: string; prefix: string; quarantined: boolean }[] = [];
  for (let i = 0; i < 400; i++) {
    const op = rand(10);
    if (op < 5 || live.length === 0) {
      const length = [56, 56, 56, 54, 60, 52][rand(6)]!;
      const key = `k${i}`;
      live.push({ key, prefix: (await allocate(ipam, key, 'p', length)).prefix, quarantined: false });
    } else if (op < 7) {
      const b = live[rand(live.length)]!;
      if (!b.quarantined) await quarantine(ipam, b.key, 'p', b.prefix);
      b.quarantined = true;
    } else if (op < 9) {
      const [b] = live.splice(rand(live.length), 1);
      await release(ipam, b!.key, 'p', b!.prefix);
    } else {
      clock.t += 40_000;
    }
    // After every step: a hold-down that has just passed leaves a reusable block in the
    // quarantine until the next allocation, and it must count as free.
    const [u] = await ipam.utilization();
    assert.equal({ allocated: u!.allocated, heldDown: u!.heldDown }, fromBlocks(clock.t), `after step ${i}`);
  }
});

test.run();
