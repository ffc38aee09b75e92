// Adoption at scale: a field of N subscribers given as a file (subscriber, prefix, username, state),
// planned and applied into the embedded IPAM and the store, then planned again (a second run adopts
// nothing). The goal: 100,000 subscribers applied in under a minute on the bench machine.
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import { runImport } from '../services/adoption/importer.ts';
import type { FileRecord } from '../services/adoption/types.ts';
import { createEmbeddedIpam } from '../services/ipam/embedded.ts';
import { formatPrefix, nthSubnet } from '../services/ipv6.ts';
import { openDatabase } from '../store/db.ts';
import { createLifecycleStore } from '../store/lifecycles.ts';
import { asyncOf } from '../store/port.ts';
import { BENCH_POOL, scratchDir } from './support.ts';

export interface ImportFigures {
  subscribers: number;
  dryRunMs: number;
  applyMs: number;
  rerunMs: number;
  adopted: number;
  adoptedAgain: number;
}

const STATES = ['active', 'active', 'active', 'suspended', 'allocated'] as const;

export async function benchImport(subscribers: number): Promise<ImportFigures> {
  const scratch = scratchDir();
  const db = openDatabase(join(scratch.dir, 'import.sqlite'));
  try {
    const ipam = createEmbeddedIpam(db, [{ name: BENCH_POOL.name, prefix: BENCH_POOL.prefix, prefixLength: BENCH_POOL.prefix_length }]);
    const store = createLifecycleStore(db);
    const deps = { pools: [{ ...BENCH_POOL, ipam: 'embedded' as const }], store: asyncOf(store), ipam, netbox: null, radius: null };
    const records: FileRecord[] = Array.from({ length: subscribers }, (_, i) => ({
      subscriber_id: `sub-${i}`,
      // Every other block: the free space the adoptions carve stays fragmented, as a real field's is.
      prefix: formatPrefix(nthSubnet(BENCH_POOL.prefix, BENCH_POOL.prefix_length, 2 * i + 1)),
      username: `user-${i}@isp.example`,
      state: STATES[i % STATES.length]!,
    }));
    const timed = async (dryRun: boolean) => {
      const started = performance.now();
      const report = await runImport({ sources: { file: { records } }, options: { batch_size: 1000 }, dryRun }, deps);
      return { ms: performance.now() - started, report };
    };
    const dry = await timed(true);
    const applied = await timed(false);
    const rerun = await timed(false);
    return {
      subscribers,
      dryRunMs: dry.ms,
      applyMs: applied.ms,
      rerunMs: rerun.ms,
      adopted: applied.report.applied?.adopted ?? 0,
      adoptedAgain: rerun.report.applied?.adopted ?? 0,
    };
  } finally {
    db.close();
    scratch.remove();
  }
}
