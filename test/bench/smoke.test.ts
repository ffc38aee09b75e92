// `npm run bench` at a tiny scale: every section still runs to its figures. The bench is not in the
// suite otherwise, and a section that no longer matched the code (the pending one reading a stored
// snapshot's context after it became compact) went unnoticed until someone ran it.
import { spawnSync } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { test } from 'uvu';
import * as assert from 'uvu/assert';

const ROOT = fileURLToPath(new URL('../..', import.meta.url));

// Each section and the start of the line it prints when it ran through.
const SECTIONS: Array<[string, RegExp]> = [
  ['transitions', /^transitions\/s: [\d,]+ {2}raw upserts\/s: [\d,]+/m],
  ['memory', /^memory with [\d,]+ lifecycles stored: /m],
  ['ipam', /^embedded IPAM allocations\/s: [\d,]+ .*allocations into the holes\/s: [\d,]+/m],
  ['metrics', /^GET \/metrics with [\d,]+ lifecycles stored: scrape median [\d.]+ ms/m],
  ['scans', /^ {2}leak check: [\d.]+ ms, worst event-loop stall/m],
  ['pending', /^pending worker: [\d,]+ pending CPE steps in one pass/m],
  ['allocate', /^allocations\/s through POST \/allocate .*\n {2}FreeRADIUS rlm_sqlippool \(/m],
  ['lifecycles', /^full lifecycles \(allocate → activate → revoke\) through the API: operations\/s [\d,]+ without RADIUS/m],
  ['storage', /^ {2}start → ready with [\d,]+ in flight: [\d.]+ s/m],
  ['import', /^import of [\d,]+ subscribers /m],
  ['stores', /^ {2}PostgreSQL, one instance: /m],
];

test('npm run bench at BENCH_SCALE=0.001 runs every section to its figures', () => {
  const run = spawnSync(process.execPath, ['--import', 'tsx', 'bench/run.ts', ...SECTIONS.map(([s]) => s)], {
    cwd: ROOT,
    env: { ...process.env, BENCH_SCALE: '0.001' },
    encoding: 'utf8',
    timeout: 240_000,
  });
  const out = `${run.stdout}\n${run.stderr}`;
  assert.is(run.status, 0, `exit ${run.status} ${run.signal ?? ''}\n${out.slice(-3000)}`);
  for (const [section, line] of SECTIONS) assert.match(run.stdout, line, `section ${section} printed no figures:\n${run.stdout.slice(-3000)}`);
  assert.not.match(run.stdout, /not run|not installed|unexpected answers|answers not 201|only [\d,]+ Accepts/, run.stdout);
});

test.run();
