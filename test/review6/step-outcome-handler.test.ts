import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import pino from 'pino';
import { createActor, toPromise } from 'xstate';
import type { IpamPort } from '../../services/ipam/port.ts';
import type { DynamicAuthorizationPort, SessionOutcome } from '../../services/radius/port.ts';
import { ServiceError } from '../../services/errors.ts';
import { createStepActors } from '../../runtime/step-actors.ts';
import { withRetry } from '../../runtime/retry.ts';

// Review 6: a step whose port answered but whose own handling of that answer throws (the session
// outcomes' loop, a metric callback) must end as a failed step, as at 35816cb (the TypeError came
// out of the actor's promise as `internal`). Since step-call.ts it is thrown inside the attempt's
// `.then(succeeded)` reaction: an unhandled rejection, and the step's landing is never called, so
// the lifecycle stays busy forever and its request never gets its answer.

const log = pino({ level: 'silent' });

function sessionsAnswering(answer: unknown): DynamicAuthorizationPort {
  return { notifySessions: async () => answer as SessionOutcome[] } as unknown as DynamicAuthorizationPort;
}

/** The actor's end within `ms` (a liveness bound, not a speed check), and the unhandled rejections seen meanwhile. */
async function outcome(p: Promise<unknown>, ms = 2000) {
  const unhandled: unknown[] = [];
  const onUnhandled = (reason: unknown) => unhandled.push(reason);
  process.on('unhandledRejection', onUnhandled);
  try {
    const ended = await Promise.race([
      p.then(
        (value) => ({ how: 'resolved' as const, value }),
        (error: unknown) => ({ how: 'rejected' as const, error }),
      ),
      new Promise<{ how: 'never' }>((resolve) => setTimeout(() => resolve({ how: 'never' }), ms)),
    ]);
    await new Promise((resolve) => setImmediate(resolve));
    return { ended, unhandled };
  } finally {
    process.off('unhandledRejection', onUnhandled);
  }
}

function actors(sessions: DynamicAuthorizationPort, onSessionOutcome?: () => void) {
  return createStepActors(
    { ipam: {} as IpamPort, replies: null, sessions, cpe: null },
    {
      retry: { attempts: 2, baseMs: 0, maxMs: 0, retryAfterMaxMs: 0 },
      sessionAction: { suspend: 'disconnect', reactivate: 'coa', update: 'coa', revoke: 'disconnect' },
      log,
      onSessionOutcome,
    },
  );
}

const input = { username: 'alice', purpose: 'revoke' as const, prefix: '2001:db8::/56' };
const test = suite('review6: a step whose answer handling throws');

test('a session port answering something that is not a list fails the step (internal), no unhandled rejection', async () => {
  const { ended, unhandled } = await outcome(toPromise(createActor(actors(sessionsAnswering(undefined)).notifySessions, { input }).start()));
  assert.equal(unhandled.length, 0, `unhandled rejections: ${unhandled.map(String).join('; ')}`);
  assert.is(ended.how, 'rejected', 'the step ended');
  const err = (ended as { error: ServiceError }).error;
  assert.ok(err instanceof ServiceError);
  assert.is(err.code, 'internal');
});

test('a session-outcome callback that throws fails the step instead of leaving it running', async () => {
  const answer: SessionOutcome[] = [{ nas: '192.0.2.1', sessionId: 's-1', result: 'ack' } as unknown as SessionOutcome];
  const throwing = () => {
    throw new Error('metric label rejected');
  };
  const { ended, unhandled } = await outcome(toPromise(createActor(actors(sessionsAnswering(answer), throwing).notifySessions, { input }).start()));
  assert.equal(unhandled.length, 0, `unhandled rejections: ${unhandled.map(String).join('; ')}`);
  assert.is(ended.how, 'rejected', 'the step ended');
});

test('withRetry: an onRetry that throws rejects the call (as at 35816cb), never leaves it pending', async () => {
  let calls = 0;
  const call = withRetry(
    async () => {
      calls++;
      throw new ServiceError('upstream_unavailable', 'down', { retryable: true });
    },
    { attempts: 3, baseMs: 0, maxMs: 0, retryAfterMaxMs: 0 },
    {
      onRetry: () => {
        throw new Error('logger broke');
      },
    },
  );
  const { ended, unhandled } = await outcome(call);
  assert.equal(unhandled.length, 0, `unhandled rejections: ${unhandled.map(String).join('; ')}`);
  assert.is(ended.how, 'rejected', 'the call ended');
  assert.is(calls, 1);
});

test.run();
