// Review 10 (observability at scale): the first scrape of a process waited for a whole leak check
// (ipv6_lifecycle_leaked_prefixes had no figure before one): at 200,000 prefixes held the first
// GET /metrics after a restart took 3.4 s, at a million ~15 s, past Prometheus's default
// scrape_timeout of 10 s, so every restart marked the target down until the walk ended. The last
// check's figure is stored with the other kept counts; a new process reports it at once.
import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { inParallel, rowsRead, startService } from '../review7/support.ts';

const test = suite('review10: the first scrape after a restart reads the last leak check, it does not walk');
const N = 300;
let dir: string;

test.before(() => {
  dir = mkdtempSync(join(tmpdir(), 'review10-scrape-'));
});
test.after(() => rmSync(dir, { recursive: true, force: true }));

const gauge = (text: string) => Number(/^ipv6_lifecycle_leaked_prefixes (\S+)$/m.exec(text)?.[1]);

test('a leak found before the restart is reported by the first scrape and summary, without a walk', async () => {
  let svc = await startService(() => ({}), { dir });
  await inParallel(N, 20, async (i) => assert.is((await svc.post('allocate', { subscriber_id: `s-${i}` })).status, 201));
  await svc.close({ keep: true });
  // IPAM still holds s-0's prefix, and no lifecycle holds it: a leak.
  const db = new Database(join(dir, 'l.sqlite'));
  db.prepare("DELETE FROM lifecycles WHERE subscriber_id = 's-0'").run();
  db.close();

  svc = await startService(() => ({}), { dir });
  assert.is((await svc.post('jobs/leaks', {})).status, 200);
  assert.is((await svc.get('metrics')).body.leaks, 1, 'the check found it');
  await svc.close({ keep: true });

  svc = await startService(() => ({}), { dir });
  try {
    let exposition = '';
    const read = await rowsRead(async () => {
      exposition = (await svc.get('/metrics')).text;
    });
    assert.is(gauge(exposition), 1, 'the first scrape reports the stored figure');
    assert.ok(read.total < 50, `the first scrape read ${read.total} rows (a walk reads every held prefix: > ${2 * N})`);
    const summary = await rowsRead(async () => assert.is((await svc.get('metrics')).body.leaks, 1));
    assert.ok(summary.total < 50, `the summary read ${summary.total} rows`);
  } finally {
    await svc.close({ keep: true });
  }
});

test('the next check replaces the stored figure, and a restart reports the new one', async () => {
  const db = new Database(join(dir, 'l.sqlite'));
  db.prepare("DELETE FROM ipam_allocations WHERE subscriber_id = 's-0'").run();
  db.close();
  let svc = await startService(() => ({}), { dir });
  assert.is((await svc.post('jobs/leaks', {})).status, 200);
  assert.is(gauge((await svc.get('/metrics')).text), 0);
  await svc.close({ keep: true });
  svc = await startService(() => ({}), { dir });
  try {
    assert.is(gauge((await svc.get('/metrics')).text), 0, 'the figure of the last check, not the one before');
  } finally {
    await svc.close({ keep: true });
  }
});

test('a database that never had a check: the first scrape walks once (nothing else could tell), later ones do not', async () => {
  const fresh = mkdtempSync(join(tmpdir(), 'review10-fresh-'));
  const svc = await startService(() => ({}), { dir: fresh });
  try {
    await inParallel(20, 5, async (i) => assert.is((await svc.post('allocate', { subscriber_id: `f-${i}` })).status, 201));
    assert.is(gauge((await svc.get('/metrics')).text), 0);
    const read = await rowsRead(async () => svc.get('/metrics'));
    assert.ok(read.total < 50, `the second scrape read ${read.total} rows`);
  } finally {
    await svc.close();
    rmSync(fresh, { recursive: true, force: true });
  }
});

test.run();
