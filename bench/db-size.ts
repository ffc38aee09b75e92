// Database bytes per lifecycle, by table and index (SQLite's dbstat), after lifecycles made through
// the HTTP API on the embedded default: allocated only, and allocated + activated.
//   node --import tsx bench/db-size.ts [lifecycles]
import Database from 'better-sqlite3';
import { fileURLToPath } from 'node:url';
import { baseConfig, drive, startService } from './http-allocate.ts';
import { fmt, scratchDir } from './support.ts';

export interface DbSize {
  lifecycles: number;
  perLifecycle: number;
  /** Bytes per lifecycle of each table or index, largest first. */
  by: [string, number][];
}

/** `n` lifecycles through the API (allocate, and activate when `activate`), then the file's pages per object. */
export async function benchDbSize(n: number, activate: boolean): Promise<DbSize> {
  const scratch = scratchDir();
  const config = baseConfig(scratch.dir);
  const svc = await startService(config, scratch.dir);
  try {
    await drive(svc, n, 50, (i) => [
      ['allocate', { subscriber_id: `sub-${i}` }, 201],
      ...(activate ? ([['activate', { subscriber_id: `sub-${i}`, username: `user-${i}` }, 200]] as [string, unknown, number][]) : []),
    ]);
    await svc.stop();
    const db = new Database(config.database);
    db.pragma('wal_checkpoint(TRUNCATE)');
    // Pages in use (the free list left out): what a lifecycle costs once the file is compacted.
    const rows = db.prepare<[], { name: string; bytes: number }>('SELECT name, sum(pgsize) - sum(unused) AS bytes FROM dbstat GROUP BY name').all();
    db.close();
    const total = rows.reduce((s, r) => s + r.bytes, 0);
    return { lifecycles: n, perLifecycle: total / n, by: rows.map((r): [string, number] => [r.name, r.bytes / n]).sort((a, b) => b[1] - a[1]) };
  } finally {
    scratch.remove();
  }
}

export function printDbSize(label: string, s: DbSize): void {
  const parts = s.by.filter(([, b]) => b >= 1).map(([name, b]) => `${name} ${b.toFixed(0)}`);
  console.log(`database per lifecycle, ${label} (${fmt(s.lifecycles)} through the API): ${s.perLifecycle.toFixed(0)} B  [${parts.join(', ')}]`);
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const n = Number(process.argv[2] ?? 3000);
  printDbSize('allocated', await benchDbSize(n, false));
  printDbSize('allocated + activated', await benchDbSize(n, true));
}
