import Database from 'better-sqlite3';
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { formatPrefix, nthSubnet } from '../../services/ipv6.ts';

// The import as an operator runs it, killed with SIGKILL in the middle of applying: the rerun
// must adopt exactly the rest, nothing twice, nothing lost.

const test = suite('npm run import killed mid-apply');
const N = 3000;

test('a SIGKILL mid-apply, then the same command again: every subscriber adopted exactly once', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'import-kill-'));
  try {
    const db = join(dir, 'db.sqlite');
    writeFileSync(join(dir, 'config.yaml'), `database: ${db}\npools:\n  - name: home\n    prefix: 2001:db8::/32\n    prefix_length: 56\n`);
    const records = Array.from({ length: N }, (_, i) => ({ subscriber_id: `s-${i}`, prefix: formatPrefix(nthSubnet('2001:db8::/32', 56, i)), state: 'active' }));
    writeFileSync(join(dir, 'records.json'), JSON.stringify(records));
    const args = ['--import', 'tsx', 'scripts/import.ts', '-c', join(dir, 'config.yaml'), '--file', join(dir, 'records.json'), '--apply', '--batch-size', '25', '--out', dir];
    const count = () => {
      try {
        const r = new Database(db, { readonly: true, fileMustExist: true });
        try {
          return (r.prepare('SELECT count(*) AS n FROM lifecycles').get() as { n: number }).n;
        } finally {
          r.close();
        }
      } catch {
        return 0;
      }
    };
    const child = spawn(process.execPath, args, { stdio: 'ignore' });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    let seen = 0;
    for (let i = 0; i < 2000 && seen === 0; i++) {
      await new Promise((r) => setTimeout(r, 10));
      seen = count();
    }
    child.kill('SIGKILL');
    assert.is(await exited, null, 'killed, not finished');
    const atKill = count();
    assert.ok(atKill > 0 && atKill < N, `killed mid-apply (${atKill} of ${N} stored)`);

    const rerun = spawnSync(process.execPath, args, { encoding: 'utf8' });
    assert.is(rerun.status, 0, rerun.stderr);
    assert.match(rerun.stdout, new RegExp(`adopted now ${N - atKill}, failed 0`));
    const r = new Database(db, { readonly: true });
    try {
      const q = (sql: string) => (r.prepare(sql).get() as { n: number }).n;
      assert.is(q("SELECT count(*) AS n FROM lifecycles WHERE state = 'active'"), N);
      assert.is(q('SELECT count(DISTINCT subscriber_id) AS n FROM lifecycles'), N);
      assert.is(q('SELECT count(*) AS n FROM ipam_allocations'), N, 'one block per lifecycle');
      assert.is(q('SELECT count(*) AS n FROM ipam_allocations a JOIN lifecycles l ON l.id = a.lifecycle_id AND l.prefix = a.prefix'), N);
      assert.is(q("SELECT count(*) AS n FROM audit WHERE type = 'IMPORTED'"), N);
    } finally {
      r.close();
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
