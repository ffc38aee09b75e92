// FreeRADIUS 3.2 rlm_sqlippool handing out /56s from its SQLite pool, with the shared contract's own
// scripts (../shared/contracts/freeradius-sqlippool/): the variant WAL + synchronous=NORMAL + the
// allocate_existing index, allocations only (DO_ACCT=0). The folder is copied to a scratch directory
// first: its scripts write their pool, logs and results beside themselves.
import { execFileSync } from 'node:child_process';
import { cpSync, existsSync, readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { scratchDir } from './support.ts';

export const SQLIPPOOL_VARIANT = 'serial-wal-normal-idx';
const CONTRACT = resolve(fileURLToPath(import.meta.url), '../../../shared/contracts/freeradius-sqlippool');

export interface SqlippoolRun {
  allocations: number;
  perSecond: number;
  /** freeradius user+sys CPU per allocation (from /proc/PID/stat, as run.sh reads it). */
  cpuUsPerOp: number;
  /** Accepts that carried a prefix (radclient's filter): every one, or the figure means little. */
  passed: number;
}

/** Null when FreeRADIUS, radclient or the contract folder is missing (the bench says so). */
export function benchSqlippool(n: number): SqlippoolRun | null {
  if (!existsSync(join(CONTRACT, 'run.sh')) || !hasCommand('freeradius') || !hasCommand('radclient')) return null;
  const scratch = scratchDir();
  try {
    const dir = join(scratch.dir, 'sqlippool');
    cpSync(CONTRACT, dir, { recursive: true, filter: (src) => !/\/(results|data|raddb-run)$|template\.sqlite$/.test(src) });
    execFileSync(join(dir, 'run.sh'), [SQLIPPOOL_VARIANT, '1'], { env: { ...process.env, N: String(n), DO_ACCT: '0' }, stdio: ['ignore', 'ignore', 'inherit'] });
    const lines = readFileSync(join(dir, 'results', `${SQLIPPOOL_VARIANT}.tsv`), 'utf8').trim().split('\n');
    const head = lines[0]!.split('\t');
    const row = lines.at(-1)!.split('\t');
    const col = (name: string) => Number(row[head.findIndex((h) => h.startsWith(name))]);
    const wallS = col('alloc_wall_s');
    return {
      allocations: n,
      perSecond: n / wallS,
      cpuUsPerOp: ((col('alloc_fr_cpu_pct') / 100) * wallS * 1e6) / n,
      passed: col('passed_filter'),
    };
  } finally {
    scratch.remove();
  }
}

function hasCommand(name: string): boolean {
  try {
    execFileSync('sh', ['-c', `command -v ${name}`], { stdio: 'ignore' });
    return true;
  } catch {
    return false;
  }
}
