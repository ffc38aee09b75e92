import { setImmediate as nextTurn } from 'node:timers/promises';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { GroupCommit } from '../../runtime/group-commit.ts';

const test = suite('GroupCommit');

/** A group commit over an in-memory "disk" whose next write can be made to fail. */
function harness() {
  const writes: string[][] = [];
  const committed: string[][] = [];
  const failed: { items: string[]; err: string }[] = [];
  let failNext = false;
  const commits = new GroupCommit<string>({
    write: (batch) => {
      if (failNext) {
        failNext = false;
        throw new Error('disk full');
      }
      writes.push([...batch]);
    },
    committed: (batch) => void committed.push([...batch]),
    failed: (batch, err) => void failed.push({ items: [...batch], err: err.message }),
  });
  return { commits, writes, committed, failed, failWrite: () => (failNext = true) };
}

test('enqueue() many times in one turn: one write with every item, in order, at the end of the turn', async () => {
  const h = harness();
  for (const x of ['a', 'b', 'c', 'd']) h.commits.enqueue(x);
  await Promise.resolve();
  assert.equal(h.writes, [], 'nothing is written before the turn ends');
  assert.is(h.commits.pending, 4);
  await nextTurn();
  assert.equal(h.writes, [['a', 'b', 'c', 'd']]);
  assert.equal(h.committed, [['a', 'b', 'c', 'd']]);
  h.commits.enqueue('e');
  await nextTurn();
  assert.equal(h.writes, [['a', 'b', 'c', 'd'], ['e']], 'the next turn is the next transaction');
});

test('afterCommit() resolves only once the write is done, whether called before or after the enqueue', async () => {
  const h = harness();
  const seen: string[][][] = [];
  const early = h.commits.afterCommit().then(() => seen.push(h.writes.map((w) => [...w])));
  h.commits.enqueue('start');
  const late = h.commits.afterCommit().then(() => seen.push(h.writes.map((w) => [...w])));
  await Promise.all([early, late]);
  assert.equal(seen, [[['start']], [['start']]]);
  assert.is(h.writes.length, 1, 'both waiters joined the same commit');
});

test('afterCommit() with nothing queued resolves at the end of the turn without a write', async () => {
  const h = harness();
  let done = false;
  const waiting = h.commits.afterCommit().then(() => (done = true));
  await Promise.resolve();
  assert.not.ok(done);
  await waiting;
  assert.equal(h.writes, []);
});

test('a failed write rejects the waiters with its error and reports exactly the items it lost', async () => {
  const h = harness();
  h.commits.enqueue('x');
  h.commits.enqueue('y');
  h.failWrite();
  const outcome = await h.commits.afterCommit().then(
    () => 'resolved',
    (err: Error) => err.message,
  );
  assert.is(outcome, 'disk full');
  assert.equal(h.failed, [{ items: ['x', 'y'], err: 'disk full' }]);
  assert.equal(h.committed, []);
});

test('a failure nobody waits for is reported, not thrown; the next batch is written', async () => {
  const h = harness();
  h.commits.enqueue('lost');
  h.failWrite();
  await nextTurn();
  assert.equal(h.failed.map((f) => f.items), [['lost']]);
  h.commits.enqueue('next');
  await h.commits.afterCommit();
  assert.equal(h.writes, [['next']]);
  assert.equal(h.committed, [['next']]);
});

test('flush() writes at once; the scheduled flush of that turn then writes nothing more', async () => {
  const h = harness();
  h.commits.enqueue('shutdown');
  const waiting = h.commits.afterCommit();
  h.commits.flush();
  assert.equal(h.writes, [['shutdown']]);
  await waiting;
  await nextTurn();
  assert.equal(h.writes, [['shutdown']]);
});

test('a listener that throws still lets the waiters hear the commit', async () => {
  const commits = new GroupCommit<number>({
    write: () => undefined,
    committed: () => {
      throw new Error('metrics broke');
    },
  });
  commits.enqueue(1);
  const waiting = commits.afterCommit();
  assert.throws(() => commits.flush(), /metrics broke/);
  await waiting;
});

test('a write refused by a lock held elsewhere is retried on a timer: waiters wait, nothing is lost or reordered', async () => {
  const writes: string[][] = [];
  const failed: string[][] = [];
  const blocked: number[] = [];
  let busy = 3;
  const commits = new GroupCommit<string>({
    write: (batch) => {
      if (busy-- > 0) throw Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' });
      writes.push([...batch]);
    },
    failed: (batch) => void failed.push([...batch]),
    transient: (err) => (err as { code?: string }).code === 'SQLITE_BUSY',
    retryDelayMs: () => 5,
    blocked: (_err, attempt) => void blocked.push(attempt),
  });
  commits.enqueue('a');
  let done = 0;
  const first = commits.afterCommit().then(() => done++);
  await nextTurn();
  assert.ok(commits.blocked, 'held back, not failed');
  assert.is(done, 0);
  // Enqueued while the first batch waits: written after it, in the same retry.
  commits.enqueue('b');
  const second = commits.afterCommit().then(() => done++);
  await Promise.all([first, second]);
  assert.equal(writes, [['a', 'b']]);
  assert.equal(failed, [], 'a lock is no failure');
  assert.equal(blocked, [1, 2, 3]);
  assert.not.ok(commits.blocked);
  commits.enqueue('c');
  await commits.afterCommit();
  assert.equal(writes, [['a', 'b'], ['c']], 'back to one write per turn');
});

test('abandon() gives up a held batch: its waiters are rejected and no retry writes it', async () => {
  const writes: string[][] = [];
  const commits = new GroupCommit<string>({
    write: () => {
      throw Object.assign(new Error('database is locked'), { code: 'SQLITE_BUSY' });
    },
    transient: () => true,
    retryDelayMs: () => 5,
  });
  commits.enqueue('a');
  const outcome = commits.afterCommit().then(
    () => 'resolved',
    (err: Error) => err.message,
  );
  await nextTurn();
  commits.abandon(new Error('stopping'));
  assert.is(await outcome, 'stopping');
  await new Promise((r) => setTimeout(r, 20));
  assert.equal(writes, []);
  assert.not.ok(commits.blocked);
});

test('an asynchronous write (PostgreSQL): one in flight at a time; what is queued meanwhile is the next batch, and its waiters wait for it', async () => {
  const writes: string[][] = [];
  let inFlight = 0;
  let most = 0;
  const gates: (() => void)[] = [];
  const commits = new GroupCommit<string>({
    write: async (batch) => {
      inFlight++;
      most = Math.max(most, inFlight);
      await new Promise<void>((r) => gates.push(r));
      writes.push([...batch]);
      inFlight--;
    },
  });
  commits.enqueue('a');
  const first = commits.afterCommit();
  await nextTurn();
  assert.is(gates.length, 1, 'the first batch is being written');
  commits.enqueue('b');
  const second = commits.afterCommit();
  await nextTurn();
  commits.enqueue('c');
  await nextTurn();
  assert.is(gates.length, 1, 'nothing else is written while it runs');
  let secondDone = false;
  void second.then(() => (secondDone = true));
  gates.shift()!();
  await first;
  assert.equal(writes, [['a']]);
  await nextTurn();
  assert.is(gates.length, 1, 'the next batch goes as soon as the first is done');
  assert.not.ok(secondDone, 'its waiters wait for their own write');
  gates.shift()!();
  await second;
  assert.equal(writes, [['a'], ['b', 'c']]);
  assert.is(most, 1);
});

test('an asynchronous write that rejects: its waiters are rejected, `failed` hears, the next batch is written', async () => {
  const failed: string[][] = [];
  let fail = true;
  const writes: string[][] = [];
  const commits = new GroupCommit<string>({
    write: async (batch) => {
      await Promise.resolve();
      if (fail) {
        fail = false;
        throw new Error('connection lost');
      }
      writes.push([...batch]);
    },
    failed: (batch) => void failed.push([...batch]),
  });
  commits.enqueue('a');
  const outcome = await commits.afterCommit().then(
    () => 'resolved',
    (err: Error) => err.message,
  );
  assert.is(outcome, 'connection lost');
  assert.equal(failed, [['a']]);
  commits.enqueue('b');
  await commits.afterCommit();
  assert.equal(writes, [['b']]);
  await commits.drain();
});

test.run();
