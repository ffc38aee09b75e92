// The writes that end a request's hold on its Idempotency-Key, tried again while the store refuses them.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { KeyWrites } from '../../http/key-writes.ts';

const test = suite('http KeyWrites');

/** A store write that fails while `down`, and counts its attempts. */
function flaky() {
  const s = { down: true, attempts: 0, landed: 0 };
  let landed!: () => void;
  const land = new Promise<void>((r) => (landed = r));
  const write = async () => {
    s.attempts++;
    if (s.down) throw Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    s.landed++;
    landed();
  };
  return { s, write, land };
}

test('write() refused → resolves anyway, and tries again until the store takes it; then nothing is due', async () => {
  let retried!: () => void;
  const again = new Promise<void>((r) => (retried = r));
  const writes = new KeyWrites({ giveUpMs: 60_000, retryMs: () => (retried(), 1) });
  const { s, write, land } = flaky();
  await writes.write('k', write, undefined);
  assert.equal([s.attempts, writes.size], [1, 1]);
  await again;
  s.down = false;
  // The retry's timer is unref'd (it must not hold a stopping service up). Alone in the loop, the
  // process would reach 'beforeExit' meanwhile, which stops the peers test/support shares between suites.
  const held = setInterval(() => undefined, 1000);
  try {
    await land;
  } finally {
    clearInterval(held);
  }
  await new Promise((r) => setImmediate(r));
  assert.equal([s.landed, writes.size], [1, 0]);
});

test('flush(key) → the write still due, tried now: rejects while the store refuses it, resolves once it lands', async () => {
  const writes = new KeyWrites({ giveUpMs: 60_000, retryMs: () => 60_000 });
  const { s, write } = flaky();
  await writes.write('k', write, undefined);
  let refused: unknown = null;
  await writes.flush('k').catch((e: unknown) => (refused = e));
  assert.match(String(refused), /ECONNREFUSED/);
  s.down = false;
  await writes.flush('k');
  assert.equal([s.attempts, s.landed, writes.size], [3, 1, 0]);
  await writes.flush('k');
  await writes.flush('other');
  assert.is(s.attempts, 3, 'nothing due: nothing written');
});

test('a newer write for the key replaces the one still due; past giveUpMs a write is dropped', async () => {
  const writes = new KeyWrites({ giveUpMs: 0, retryMs: () => 60_000 });
  const older = flaky();
  await writes.write('k', older.write, undefined);
  assert.is(writes.size, 0, 'given up at once');
  const kept = new KeyWrites({ giveUpMs: 60_000, retryMs: () => 60_000 });
  await kept.write('k', older.write, undefined);
  const newer = flaky();
  newer.s.down = false;
  await kept.write('k', newer.write, undefined);
  await kept.flush('k');
  assert.equal([older.s.attempts, newer.s.landed, kept.size], [2, 1, 0]);
});

test.run();
