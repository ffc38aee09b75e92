// The embedded IPAM on its own: allocations into an empty pool, releases of every other block, and
// allocations again into the holes they leave (first fit then walks the free runs).
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { createEmbeddedIpam } from '../services/ipam/embedded.ts';
import { openDatabase } from '../store/db.ts';
import { BENCH_POOL, perSecond, scratchDir } from './support.ts';

export interface IpamFigures {
  allocations: number;
  allocatePerSecond: number;
  releasePerSecond: number;
  refillPerSecond: number;
}

export async function benchIpam(allocations: number): Promise<IpamFigures> {
  const scratch = scratchDir();
  const db = openDatabase(join(scratch.dir, 'ipam.sqlite'));
  try {
    // No hold-down: the refill figure measures allocation into the holes releases just left.
    const pool = { name: BENCH_POOL.name, prefix: BENCH_POOL.prefix, prefixLength: BENCH_POOL.prefix_length, holdDownS: 0 };
    const ipam = createEmbeddedIpam(db, [pool]);
    const cmd = (i: number, round: string) => ({ key: `${round}-${i}`, lifecycleId: `lc-${round}-${i}`, subscriberId: `s-${i}`, pool: pool.name, prefixLength: pool.prefixLength });
    const timed = async (count: number, fn: (i: number) => Promise<unknown>) => {
      const started = performance.now();
      for (let i = 0; i < count; i++) await fn(i);
      return perSecond(count, performance.now() - started);
    };
    const prefixes: string[] = [];
    const allocatePerSecond = await timed(allocations, async (i) => prefixes.push((await ipam.allocate(cmd(i, 'a'))).prefix));
    const half = Math.floor(allocations / 2);
    const releasePerSecond = await timed(half, (i) =>
      ipam.release({ lifecycleId: `lc-a-${2 * i}`, pool: pool.name, prefix: prefixes[2 * i]!, netboxPrefixId: null }),
    );
    const refillPerSecond = await timed(half, (i) => ipam.allocate(cmd(i, 'b')));
    return { allocations, allocatePerSecond, releasePerSecond, refillPerSecond };
  } finally {
    db.close();
    scratch.remove();
  }
}
