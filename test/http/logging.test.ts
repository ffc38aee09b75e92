// What an operator's log pipeline reads: JSON lines with ISO times and level words; every line about
// a lifecycle names it (subscriber, lifecycle, request), the step retry and give-up lines included;
// a peer's failure is a warning with its message, not an error with a stack.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ServiceError } from '../../services/errors.ts';
import { startHarness, type Harness } from './support.ts';

const test = suite('http log lines');
let h: Harness;
test.before.each(async () => {
  h = await startHarness();
});
test.after.each(async () => {
  await h.close();
});

const down = () => new ServiceError('upstream_unavailable', 'IPAM answered 503', { retryable: true });

test('every line: an ISO time and the level as a word', async () => {
  await h.post('allocate', { subscriber_id: 'log-1' });
  assert.ok(h.logs.length > 3);
  for (const line of h.logs) {
    assert.type(line.level, 'string');
    assert.match(String(line.time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  }
});

test('a step retry line and the lifecycle event lines carry subscriber_id, lifecycle_id and request_id', async () => {
  h.ipam.failNext('allocate', { error: down, times: 1 });
  const r = await h.post('allocate', { subscriber_id: 'log-2' }, { headers: { 'x-request-id': 'req-retry-1' } });
  assert.is(r.status, 201);
  const retry = h.logs.filter((l) => l.msg === 'step failed; retrying');
  assert.is(retry.length, 1);
  const events = h.logs.filter((l) => l.msg === 'lifecycle event');
  assert.ok(events.length >= 2);
  for (const line of [...retry, ...events]) {
    assert.is(line.subscriber_id, 'log-2', String(line.msg));
    assert.is(line.lifecycle_id, r.body.lifecycle_id, String(line.msg));
    assert.is(line.request_id, 'req-retry-1', String(line.msg));
  }
});

test('a step that gives up on a peer: the give-up and the 502 lines at warn, with ids, without a stack', async () => {
  h.ipam.failNext('allocate', { error: down, times: 5 });
  const r = await h.post('allocate', { subscriber_id: 'log-3' }, { headers: { 'x-request-id': 'req-give-up-1' } });
  assert.is(r.status, 502);
  const gaveUp = h.logs.find((l) => l.msg === 'step gave up');
  assert.ok(gaveUp);
  assert.is(gaveUp.level, 'warn');
  assert.is(gaveUp.subscriber_id, 'log-3');
  assert.is(gaveUp.request_id, 'req-give-up-1');
  assert.type(gaveUp.lifecycle_id, 'string');
  const failed = h.logs.find((l) => l.request_id === 'req-give-up-1' && String(l.msg).startsWith('request failed'));
  assert.ok(failed, 'the request failure line');
  assert.is(failed.level, 'warn');
  assert.not.match(h.rawLogs.join('\n'), '"stack"');
});

test('two requests in one turn: each lifecycle event line names its own request', async () => {
  const [a, b] = await Promise.all([
    h.post('allocate', { subscriber_id: 'log-a' }, { headers: { 'x-request-id': 'req-a' } }),
    h.post('allocate', { subscriber_id: 'log-b' }, { headers: { 'x-request-id': 'req-b' } }),
  ]);
  assert.is(a.status, 201);
  assert.is(b.status, 201);
  for (const line of h.logs.filter((l) => l.msg === 'lifecycle event')) {
    assert.is(line.request_id, line.subscriber_id === 'log-a' ? 'req-a' : 'req-b');
  }
});

test.run();
