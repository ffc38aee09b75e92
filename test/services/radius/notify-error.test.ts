import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { SessionOutcome } from '../../../services/radius/port.ts';
import { combineFailures, DynamicAuthorizationError, nakError } from '../../../services/radius/notify-error.ts';

const test = suite('radius notify errors');

test('nakError: a 5xx Error-Cause is retryable, a 4xx or absent one is not; the message names NAS, answer, session and cause', () => {
  const busy = nakError('192.0.2.1', 'CoA-NAK', 's1', 506, 'Resources-Unavailable');
  assert.equal([busy.code, busy.retryable, busy.message], ['upstream_rejected', true, 'NAS 192.0.2.1 answered CoA-NAK for session s1: Error-Cause 506 (Resources-Unavailable)']);
  assert.is(nakError('192.0.2.1', 'Disconnect-NAK', 's1', 404, null).retryable, false);
  assert.equal([nakError('192.0.2.1', 'Disconnect-NAK', 's1', null, null).retryable, nakError('192.0.2.1', 'Disconnect-NAK', 's1', null, null).message], [false, 'NAS 192.0.2.1 answered Disconnect-NAK for session s1: Error-Cause absent']);
});

test('combineFailures: a non-retryable failure decides, whatever its place; every message and outcome is kept', () => {
  const outcomes: SessionOutcome[] = [{ sessionId: 's1', nas: '192.0.2.1', action: 'coa', attempts: 1, result: 'nak', errorCause: 506 }];
  const retryable = nakError('192.0.2.1', 'CoA-NAK', 's1', 506, null);
  const definitive = nakError('192.0.2.2', 'CoA-NAK', 's2', 404, null);
  const err = combineFailures([retryable, definitive], outcomes);
  assert.instance(err, DynamicAuthorizationError);
  assert.equal([err.code, err.retryable, err.outcomes], ['upstream_rejected', false, outcomes]);
  assert.is(err.message, `${retryable.message}; ${definitive.message}`);
  assert.is(combineFailures([retryable, retryable], outcomes).retryable, true);
});

test.run();
