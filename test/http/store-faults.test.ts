// A store that does not take writes, seen through the API: another connection holding the write lock
// (the real `sqlite3` CLI in BEGIN IMMEDIATE) must not freeze the event loop, and writes that fail
// answer 503 `unavailable` with Retry-After while `/readyz` says why.
import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startHarness, type Harness } from './support.ts';

const test = suite('http: a store that takes no writes');
let h: Harness;
test.before.each(async () => {
  h = await startHarness();
});
test.after.each(async () => {
  await h.close();
});

/** `sqlite3 <file>` holding BEGIN IMMEDIATE until `release()`. */
async function holdWriteLock(file: string): Promise<{ release(): Promise<void> }> {
  const cli: ChildProcessWithoutNullStreams = spawn('sqlite3', [file]);
  let out = '';
  cli.stdout.on('data', (d: Buffer) => (out += d.toString()));
  cli.stdin.write("BEGIN IMMEDIATE;\nSELECT 'held';\n");
  const deadline = Date.now() + 5000;
  while (!out.includes('held')) {
    if (Date.now() > deadline) throw new Error(`sqlite3 did not take the lock: ${out}`);
    await new Promise((r) => setTimeout(r, 10));
  }
  return {
    release: () =>
      new Promise<void>((resolve) => {
        cli.once('exit', () => resolve());
        cli.stdin.end('ROLLBACK;\n.quit\n');
      }),
  };
}

const timed = async <T>(fn: () => Promise<T>): Promise<{ ms: number; value: T }> => {
  const t0 = Date.now();
  const value = await fn();
  return { ms: Date.now() - t0, value };
};

test('sqlite3 holding BEGIN IMMEDIATE: /healthz stays fast, the write answers 503 with Retry-After, and it is stored once the lock is gone', async () => {
  const file = h.composed.db.name;
  const lock = await holdWriteLock(file);
  let released = false;
  try {
    const allocating = timed(() => h.post('allocate?wait=10000', { subscriber_id: 'locked-1' }));
    await new Promise((r) => setTimeout(r, 100));
    const health = await timed(() => h.get('/healthz'));
    assert.is(health.value.status, 200);
    assert.ok(health.ms < 500, `/healthz took ${health.ms} ms while the store was locked`);
    const answer = await allocating;
    assert.is(answer.value.status, 503, answer.value.text);
    assert.is(answer.value.body.error.code, 'unavailable');
    assert.ok(Number(answer.value.headers.get('retry-after')) >= 1, 'Retry-After is set');
    assert.ok(answer.ms < 4000, `answered after ${answer.ms} ms, well before ?wait=10000`);
    const ready = await h.get('/readyz');
    assert.is(ready.status, 503);
    assert.match(ready.body.error.message, /locked/);
    await lock.release();
    released = true;
    // The lifecycle accepted before the lock went away is written and carried out after it.
    const deadline = Date.now() + 5000;
    let state = '';
    while (Date.now() < deadline && state !== 'allocated') {
      await new Promise((r) => setTimeout(r, 50));
      const got = await h.get('/api/v1/network/ipv6/lifecycle/locked-1');
      state = got.status === 200 ? got.body.state : '';
    }
    assert.is(state, 'allocated');
    assert.is((await h.get('/readyz')).status, 200);
  } finally {
    if (!released) await lock.release();
  }
});

test('writes that start failing (the file turns read-only): the operation answers 503 at once, /readyz 503 until writes work again', async () => {
  const ok = await h.post('allocate', { subscriber_id: 'before' });
  assert.is(ok.status, 201);
  h.composed.db.pragma('query_only = ON');
  const failed = await timed(() => h.post('allocate?wait=10000', { subscriber_id: 'ro-1' }));
  assert.is(failed.value.status, 503, failed.value.text);
  assert.is(failed.value.body.error.code, 'unavailable');
  assert.ok(Number(failed.value.headers.get('retry-after')) >= 1);
  assert.ok(failed.ms < 2000, `answered after ${failed.ms} ms`);
  const ready = await h.get('/readyz');
  assert.is(ready.status, 503);
  assert.match(ready.body.error.message, /writes to the database fail/);
  h.composed.db.pragma('query_only = OFF');
  assert.is((await h.get('/readyz')).status, 200, 'a probe write clears it');
  assert.is((await h.post('allocate', { subscriber_id: 'ro-1' })).status, 201);
});

test.run();
