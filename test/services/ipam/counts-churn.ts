// A random walk over the embedded IPAM (SQLite or PostgreSQL) for the kept counts of migration 015
// (PostgreSQL's 008): allocations of mixed lengths by a few subscribers in a sticky pool (so that
// some get their held-down block back), adoptions, quarantines, frees, hold-downs passing, and
// restarts with another delegated length and another parent. After every step, utilization() must
// give what the blocks give, counted from scratch (units.ts).
import * as assert from 'uvu/assert';
import { ServiceError } from '../../../services/errors.ts';
import type { EmbeddedPool } from '../../../services/ipam/pool-rules.ts';
import type { IpamPort } from '../../../services/ipam/port.ts';
import { blocksUsed } from '../../../services/ipam/units.ts';
import { contains, formatPrefix, nthSubnet, parsePrefix, subnetCount } from '../../../services/ipv6.ts';

export const T0 = Date.parse('2030-01-01T00:00:00.000Z');
const BASE: EmbeddedPool = { name: 'p', prefix: '2001:db8::/44', prefixLength: 56, holdDownS: 60 };
/** The configurations restarts go through: another length (not a multiple of 4), a moved parent, a wider one, back. */
export const CONFIGS: EmbeddedPool[] = [
  BASE,
  { ...BASE, prefixLength: 58 },
  { ...BASE, prefix: '2001:db8:100::/44' },
  { ...BASE, prefix: '2001:db8::/43', prefixLength: 57 },
  BASE,
];

/** The pool's rows as stored: its allocated blocks, and its quarantined ones with their reusable_at. */
export interface Rows {
  allocated: string[];
  quarantined: { prefix: string; reusable_at: string }[];
}

/** The figures the blocks give at `now` for `pool`: what utilization() must say. */
export function fromBlocks(pool: EmbeddedPool, rows: Rows, now: number) {
  const parent = parsePrefix(pool.prefix);
  const allocated = rows.allocated.map((p) => parsePrefix(p));
  const held = rows.quarantined.filter((q) => q.reusable_at > new Date(now).toISOString()).map((q) => parsePrefix(q.prefix));
  const units = (list: ReturnType<typeof parsePrefix>[]) => Number(blocksUsed(parent, pool.prefixLength, list));
  // A block outside the parent is a lifecycle still on a parent the pool moved from: one each.
  const outside = allocated.filter((b) => !contains(parent, b)).length;
  return { allocated: units([...allocated, ...held]) + outside, heldDown: units(held) };
}

export interface Walk {
  /** The IPAM on the store, started (again) with `pool` and the walk's clock. */
  start(pool: EmbeddedPool, now: () => number): Promise<IpamPort>;
  rows(): Promise<Rows>;
  /** After each step: whatever else the store can check (its kept counts against a recount). */
  check?(pool: EmbeddedPool, step: number): Promise<void>;
}

/** `steps` random steps (the same ones every run), a restart with the next configuration every `steps / CONFIGS.length`. */
export async function churn(walk: Walk, steps: number): Promise<void> {
  const clock = { t: T0 };
  let seed = 11;
  const rand = (n: number) => ((seed = (seed * 1103515245 + 12345) % 2 ** 31), Math.floor(seed / 65536) % n);
  let config = 0;
  let pool = CONFIGS[0]!;
  let ipam = await walk.start(pool, () => clock.t);
  const live: { key: string; sub: string; prefix: string; quarantined: boolean }[] = [];
  const cmd = (b: { key: string; sub: string; prefix: string }) => ({ lifecycleId: `lc-${b.key}`, subscriberId: b.sub, pool: 'p', prefix: b.prefix, netboxPrefixId: null });
  const refused = (err: unknown) => {
    if (!(err instanceof ServiceError) || !['pool_exhausted', 'idempotency_mismatch'].includes(err.code)) throw err;
  };
  for (let i = 0; i < steps; i++) {
    if (i > 0 && i % Math.ceil(steps / CONFIGS.length) === 0) {
      pool = CONFIGS[++config % CONFIGS.length]!;
      ipam = await walk.start(pool, () => clock.t);
    }
    const op = rand(12);
    const key = `k${i}`;
    const sub = `sub-${rand(12)}`;
    if (op < 5 || live.length === 0) {
      const length = [56, 56, 56, 54, 60, 52, 64][rand(7)]!;
      await ipam.allocate({ key, lifecycleId: `lc-${key}`, subscriberId: sub, pool: 'p', prefixLength: length }).then((a) => void live.push({ key, sub, prefix: a.prefix, quarantined: false }), refused);
    } else if (op < 6) {
      const parent = parsePrefix(pool.prefix);
      const length = [56, 60, 52][rand(3)]!;
      const prefix = formatPrefix(nthSubnet(parent, length, rand(Number(subnetCount(parent, length)))));
      await ipam.adopt({ key, lifecycleId: `lc-${key}`, subscriberId: sub, pool: 'p', prefix }).then(() => void live.push({ key, sub, prefix, quarantined: false }), refused);
    } else if (op < 8) {
      const b = live[rand(live.length)]!;
      if (!b.quarantined) await ipam.release(cmd(b));
      b.quarantined = true;
    } else if (op < 11) {
      const [b] = live.splice(rand(live.length), 1);
      await ipam.free(cmd(b!));
    } else {
      clock.t += 40_000;
    }
    const [u] = await ipam.utilization();
    assert.equal({ allocated: u!.allocated, heldDown: u!.heldDown }, fromBlocks(pool, await walk.rows(), clock.t), `after step ${i} (${pool.prefix}, /${pool.prefixLength})`);
    await walk.check?.(pool, i);
  }
}
