import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { backoffDelay, retryDelay, type RetryPolicy } from '../../runtime/backoff.ts';

const test = suite('backoff');
const policy: RetryPolicy = { attempts: 6, baseMs: 100, maxMs: 1000, retryAfterMaxMs: 5000 };
const transient = { retryable: true, retryAfterMs: null };

test('backoffDelay(full): uniform in [0, base·2^(n-1)], capped at maxMs', () => {
  const full = { baseMs: 100, maxMs: 1000, jitter: 'full' } as const;
  assert.equal([1, 2, 3, 4, 5, 9].map((n) => backoffDelay(full, n, () => 0.999999)), [100, 200, 400, 800, 1000, 1000]);
  assert.equal([1, 2, 5].map((n) => backoffDelay(full, n, () => 0)), [0, 0, 0]);
  assert.is(backoffDelay(full, 3, () => 0.5), 200);
});

test('backoffDelay(equal): never below half the step', () => {
  const equal = { baseMs: 100, maxMs: 1000, jitter: 'equal' } as const;
  assert.equal([1, 2, 3, 4, 5].map((n) => backoffDelay(equal, n, () => 0)), [50, 100, 200, 400, 500]);
  assert.equal([1, 5].map((n) => backoffDelay(equal, n, () => 0.999999)), [100, 1000]);
});

test('backoffDelay: with Math.random every delay stays inside its bounds', () => {
  for (let n = 1; n <= 8; n++) {
    const step = Math.min(1000, 100 * 2 ** (n - 1));
    for (let i = 0; i < 200; i++) {
      const full = backoffDelay({ baseMs: 100, maxMs: 1000, jitter: 'full' }, n);
      const equal = backoffDelay({ baseMs: 100, maxMs: 1000, jitter: 'equal' }, n);
      assert.ok(full >= 0 && full <= step, `full ${full} outside [0, ${step}]`);
      assert.ok(equal >= step / 2 && equal <= step, `equal ${equal} outside [${step / 2}, ${step}]`);
    }
  }
});

test('retryDelay: `attempts` counts every attempt, the first included', () => {
  const delays = [1, 2, 3, 4, 5, 6].map((n) => retryDelay(policy, n, transient, () => 0.999999));
  assert.equal(delays, [100, 200, 400, 800, 1000, null]);
  assert.is(retryDelay({ ...policy, attempts: 1 }, 1, transient), null);
});

test('retryDelay: a non-retryable error is never repeated', () => {
  assert.is(retryDelay(policy, 1, { retryable: false, retryAfterMs: null }), null);
  assert.is(retryDelay(policy, 1, { retryable: false, retryAfterMs: 10 }), null);
});

test('retryDelay: a Retry-After is a floor over the backoff, and one beyond retryAfterMaxMs gives up', () => {
  assert.is(retryDelay(policy, 1, { retryable: true, retryAfterMs: 3000 }, () => 0.5), 3000);
  assert.is(retryDelay(policy, 4, { retryable: true, retryAfterMs: 10 }, () => 0.999999), 800, 'the longer of the two');
  assert.is(retryDelay(policy, 1, { retryable: true, retryAfterMs: 5000 }, () => 0), 5000, 'up to the maximum is waited out');
  assert.is(retryDelay(policy, 1, { retryable: true, retryAfterMs: 5001 }, () => 0), null);
  assert.is(retryDelay(policy, 6, { retryable: true, retryAfterMs: 10 }), null, 'a hint does not add attempts');
});

test.run();
