import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ServiceError } from '../../services/errors.ts';
import { createFaults } from '../../services/faults.ts';

const test = suite('faults: what the fakes throw');

/** Runs one call of `op` that appends `op` to `effects`, and says how it ended. */
function call(faults: ReturnType<typeof createFaults<'a' | 'b'>>, op: 'a' | 'b', effects: string[]): string {
  try {
    return faults.run(op, () => {
      effects.push(op);
      return 'ok';
    });
  } catch (err) {
    return `threw ${(err as Error).message}`;
  }
}

test('failNext(op) fails the next call of op only, before its effect, with a retryable upstream_unavailable', () => {
  const faults = createFaults<'a' | 'b'>('fake x');
  faults.failNext('a');
  let thrown: unknown;
  try {
    faults.run('a', () => assert.unreachable('the effect ran'));
  } catch (err) {
    thrown = err;
  }
  assert.instance(thrown, ServiceError);
  assert.equal([(thrown as ServiceError).code, (thrown as ServiceError).retryable, (thrown as ServiceError).message], ['upstream_unavailable', true, 'fake x: injected fault in a']);
  const effects: string[] = [];
  assert.equal([call(faults, 'b', effects), call(faults, 'a', effects)], ['ok', 'ok']);
  assert.equal(effects, ['b', 'a']);
});

test('times: n consecutive calls fail, then the queue is empty', () => {
  const faults = createFaults<'a' | 'b'>('fake x');
  faults.failNext('a', { times: 2, error: () => new Error('down') });
  const effects: string[] = [];
  assert.equal([1, 2, 3].map(() => call(faults, 'a', effects)), ['threw down', 'threw down', 'ok']);
  assert.equal(effects, ['a']);
});

test('afterEffect: the effect takes place and the call still throws; error may be one instance or a fresh one per call', () => {
  const faults = createFaults<'a' | 'b'>('fake x');
  const lost = new Error('answer lost');
  faults.failNext('a', { error: lost, afterEffect: true });
  let made = 0;
  faults.failNext('a', { error: () => new Error(`fresh ${++made}`), times: 2 });
  const effects: string[] = [];
  assert.equal([1, 2, 3, 4].map(() => call(faults, 'a', effects)), ['threw answer lost', 'threw fresh 1', 'threw fresh 2', 'ok']);
  assert.equal(effects, ['a', 'a'], 'the lost answer and the last call ran their effect');
});

test.run();
