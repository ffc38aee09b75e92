// Builds a database of many stored lifecycles fast, with the product's own code: every row is a copy
// of a row the real service stored (toRow() and the compact snapshot encoding of
// store/snapshot-codec.ts), written with the store's own upsert statement (its counting triggers
// fire) in big transactions of prepared statements.
//   BENCH_STORED=10000000 BENCH_IN_FLIGHT=10000 node --import tsx bench/build.ts [file]
// Defaults: 1,000,000 stored, none in flight, into a scratch directory. In-flight lifecycles are
// mid-activation (the CPE step running): a start on the file resumes them.
import { statSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import type { CpePort } from '../services/genieacs/port.ts';
import { openDatabase } from '../store/db.ts';
import { UPSERT_LIFECYCLE, type LifecycleRow } from '../store/lifecycles.ts';
import { decodeSnapshot, encodeSnapshot } from '../store/snapshot-codec.ts';
import { composeBench, fmt, perSecond, scratchDir } from './support.ts';

export interface BuildFigures {
  stored: number;
  inFlight: number;
  ms: number;
  rowsPerSecond: number;
  bytesPerLifecycle: number;
  file: string;
  /** Deletes the file when it was built in a scratch directory (a file given is kept). */
  remove(): void;
}

/** A settled active lifecycle and one whose activation waits on its CPE step, as the service stores them. */
async function templates(): Promise<{ settled: LifecycleRow; busy: LifecycleRow }> {
  const never: CpePort = { configurePd: () => new Promise(() => undefined), removeIpv6: () => new Promise(() => undefined) };
  const b = await composeBench();
  const hung = await composeBench({ ports: { cpe: never } });
  try {
    await b.c.service.allocate({ subscriber_id: 'tpl-0' }, 10_000);
    await b.c.service.activate({ subscriber_id: 'tpl-0', username: 'user-tpl-0', cpe_id: 'cpe-tpl-0' }, 10_000);
    await hung.c.service.allocate({ subscriber_id: 'tpl-0' }, 10_000);
    await hung.c.service.activate({ subscriber_id: 'tpl-0', username: 'user-tpl-0', cpe_id: 'cpe-tpl-0' }, 0);
    await hung.c.host.afterCommit();
    const busy = hung.c.store.live('tpl-0')!;
    if (!busy.busy) throw new Error('the in-flight template is not busy');
    return { settled: b.c.store.live('tpl-0')!, busy };
  } finally {
    await b.close();
    await hung.close();
  }
}

/** The template's row for lifecycle `i`: its own id, subscriber, prefix, username and CPE, its snapshot re-encoded for them. */
function copier(template: LifecycleRow, base: number) {
  const plain = JSON.stringify(decodeSnapshot(template));
  // The snapshot names the lifecycle (its steps' keys) and, in flight, the step's input: replaced with the row's.
  const names = new RegExp([template.id, template.prefix!, 'user-tpl-0', 'cpe-tpl-0', 'tpl-0'].map((x) => x.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')).join('|'), 'g');
  // A settled snapshot encodes to the same text for every copy (all it holds is in the columns): encode once.
  const constant = !template.busy ? encodeSnapshot(JSON.parse(plain), template) : null;
  return (i: number): LifecycleRow => {
    const at = new Date(base + i).toISOString();
    // UUIDv7-shaped, 36 characters like the service's ids, unique and ordered by i.
    const id = `019b0000-0000-7000-8000-${i.toString(16).padStart(12, '0')}`;
    // The i-th /56 of 2001:db8::/32 (16M of them).
    const prefix = `2001:db8:${((i >>> 8) & 0xffff).toString(16)}:${((i & 0xff) << 8).toString(16)}::/56`;
    const values: Record<string, string> = { [template.id]: id, [template.prefix!]: prefix, 'user-tpl-0': `user-${i}`, 'cpe-tpl-0': `cpe-${i}`, 'tpl-0': `sub-${i}` };
    const row: LifecycleRow = {
      ...template,
      id,
      subscriber_id: `sub-${i}`,
      prefix,
      username: `user-${i}`,
      cpe_id: `cpe-${i}`,
      // In flight, the snapshot keeps the template's allocation time: so does the column (they must agree).
      allocated_at: template.busy ? template.allocated_at : at,
      activated_at: template.activated_at ? at : null,
      created_at: at,
      updated_at: at,
    };
    if (constant) return { ...row, snapshot: constant };
    const text = plain.replace(names, (name) => values[name]!);
    return { ...row, snapshot: encodeSnapshot(JSON.parse(text), row) };
  };
}

export async function buildStored(stored: number, inFlight: number, file?: string): Promise<BuildFigures> {
  const { settled, busy } = await templates();
  const scratch = file ? null : scratchDir();
  const target = file ?? join(scratch!.dir, 'stored.sqlite');
  const db = openDatabase(target);
  // A bulk load of a fresh file: nobody waits on each commit.
  db.pragma('synchronous = OFF');
  // The indexes of millions of rows do not fit SQLite's default 2 MiB page cache: every insert would read pages back.
  db.pragma('cache_size = -524288');
  const upsert = db.prepare(UPSERT_LIFECYCLE);
  const base = Date.parse('2026-01-01T00:00:00.000Z');
  const [settledRow, busyRow] = [copier(settled, base), copier(busy, base)];
  // Spread evenly, as a restart would find them.
  const every = inFlight > 0 ? Math.floor(stored / inFlight) : 0;
  const started = performance.now();
  const CHUNK = 100_000;
  for (let from = 0; from < stored; from += CHUNK) {
    db.transaction(() => {
      for (let i = from; i < Math.min(stored, from + CHUNK); i++) upsert.run(every && i % every === 0 && i / every < inFlight ? busyRow(i) : settledRow(i));
    })();
  }
  const ms = performance.now() - started;
  db.pragma('wal_checkpoint(TRUNCATE)');
  db.close();
  const bytes = statSync(target).size;
  return { stored, inFlight, ms, rowsPerSecond: perSecond(stored, ms), bytesPerLifecycle: bytes / stored, file: target, remove: () => scratch?.remove() };
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const stored = Number(process.env.BENCH_STORED ?? 1_000_000);
  const inFlight = Number(process.env.BENCH_IN_FLIGHT ?? 0);
  const f = await buildStored(stored, inFlight, process.argv[2]);
  console.log(
    `built ${fmt(f.stored)} lifecycles (${fmt(f.inFlight)} in flight) in ${(f.ms / 1000).toFixed(1)} s: ${fmt(f.rowsPerSecond)} rows/s, ` +
      `${fmt(Math.round(f.bytesPerLifecycle))} bytes of database per lifecycle (no audit trail) → ${f.file}`,
  );
}
