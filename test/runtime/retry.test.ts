import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ServiceError } from '../../services/errors.ts';
import { GroupCommit } from '../../runtime/group-commit.ts';
import { withRetry, type RetryPolicy } from '../../runtime/retry.ts';

const test = suite('withRetry');
const policy: RetryPolicy = { attempts: 4, baseMs: 1, maxMs: 2, retryAfterMaxMs: 1000 };
const down = (retryAfterMs: number | null = null) => new ServiceError('upstream_unavailable', 'down', { retryable: true, retryAfterMs });

async function rejection(p: Promise<unknown>): Promise<ServiceError> {
  try {
    await p;
  } catch (err) {
    return err as ServiceError;
  }
  throw new Error('expected a rejection');
}

test('policy.attempts is the number of calls in total; the error says how many were made', async () => {
  let calls = 0;
  const failed = await rejection(
    withRetry(async (attempt) => {
      calls++;
      assert.is(attempt, calls);
      throw down();
    }, policy),
  );
  assert.is(calls, 4);
  assert.equal([failed.code, failed.attempts], ['upstream_unavailable', 4]);
});

test('succeeds on a later attempt with that attempt\'s result', async () => {
  let calls = 0;
  const got = await withRetry(async () => {
    if (++calls < 3) throw down();
    return 'ok';
  }, policy);
  assert.equal([got, calls], ['ok', 3]);
});

test('a non-retryable error, or an exception that is not a ServiceError, is not repeated', async () => {
  let calls = 0;
  const refused = await rejection(
    withRetry(async () => {
      calls++;
      throw new ServiceError('upstream_rejected', 'no');
    }, policy),
  );
  assert.equal([refused.code, refused.attempts, calls], ['upstream_rejected', 1, 1]);
  const bug = await rejection(
    withRetry(async () => {
      throw new TypeError('x is undefined');
    }, policy),
  );
  assert.equal([bug.code, bug.message, bug.attempts], ['internal', 'x is undefined', 1]);
});

test('a Retry-After is waited out before the next attempt', async () => {
  const at: number[] = [];
  await withRetry(async () => {
    at.push(Date.now());
    if (at.length === 1) throw down(150);
  }, policy);
  assert.ok(at[1]! - at[0]! >= 145, `waited only ${at[1]! - at[0]!} ms`);
});

test('a Retry-After beyond retryAfterMaxMs ends the call at once, retryable, after one attempt', async () => {
  let calls = 0;
  const started = Date.now();
  const err = await rejection(
    withRetry(async () => {
      calls++;
      throw down(60_000);
    }, policy),
  );
  assert.equal([err.code, err.retryable, err.retryAfterMs, err.attempts, calls], ['upstream_unavailable', true, 60_000, 1, 1]);
  assert.ok(Date.now() - started < 500);
});

test('an abort during the wait ends the call without another attempt', async () => {
  const ctl = new AbortController();
  let calls = 0;
  const call = withRetry(
    async () => {
      calls++;
      throw down(500);
    },
    policy,
    { signal: ctl.signal, onRetry: () => setTimeout(() => ctl.abort(), 20) },
  );
  const err = await rejection(call);
  assert.equal([err.attempts, calls], [1, 1]);
});

test('onRetry hears every wait with the error, the attempt and the delay', async () => {
  const heard: [string, number, number][] = [];
  await rejection(
    withRetry(
      async () => {
        throw down(5);
      },
      { ...policy, attempts: 3 },
      { onRetry: (err, attempt, delayMs) => heard.push([err.code, attempt, delayMs]) },
    ),
  );
  assert.equal(heard, [['upstream_unavailable', 1, 5], ['upstream_unavailable', 2, 5]]);
});

test('the first attempt waits for afterCommit(); a barrier that rejects means no attempt at all', async () => {
  let open!: () => void;
  const barrier = new Promise<void>((resolve) => (open = resolve));
  let calls = 0;
  const call = withRetry(async () => ++calls, policy, { afterCommit: () => barrier });
  await new Promise((r) => setTimeout(r, 20));
  assert.is(calls, 0, 'no attempt before the barrier');
  open();
  assert.is(await call, 1);
  const refused = withRetry(async () => ++calls, policy, { afterCommit: () => Promise.reject(new Error('disk full')) });
  await rejection(refused);
  assert.is(calls, 1);
});

test('with a group commit as barrier, a snapshot queued after the step started in the same turn is on disk first', async () => {
  const disk: string[] = [];
  const commits = new GroupCommit<string>({ write: (batch) => void disk.push(...batch) });
  const seenByStep: string[][] = [];
  // The step starts first and its snapshot is queued afterwards: the order XState happens to use today.
  const step = withRetry(async () => void seenByStep.push([...disk]), policy, { afterCommit: () => commits.afterCommit() });
  commits.enqueue('allocating');
  // And the other order, within one later turn.
  await step;
  commits.enqueue('releasing');
  const second = withRetry(async () => void seenByStep.push([...disk]), policy, { afterCommit: () => commits.afterCommit() });
  await second;
  assert.equal(seenByStep, [['allocating'], ['allocating', 'releasing']]);
});

test.run();
