// A step that failed on an internal error (a bug, an exception no port maps) leaves the lifecycle
// `failed`, and POST /retry resumes it once the cause is gone. The operation that met it answered
// the generic 500 "the request id identifies it in the service log": the client learnt neither that
// the lifecycle is failed nor at which step, nor that a retry resumes it, and the log line of that
// request id holds nothing (the step failed earlier). The answer stays a 500 `internal` that shows
// nothing of the exception, but says which step failed and what to do.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { BASE, startHarness, type Harness } from '../http/support.ts';

const test = suite('review12: a lifecycle failed on an internal error answers with its step and the way out');
let h: Harness;
test.before.each(async () => {
  h = await startHarness();
});
test.after.each(async () => {
  await h.close();
});

const SECRETISH = 'TypeError: cannot read x of undefined at /srv/app/secret-path.ts';

test('POST /revoke whose IPAM release throws an unmapped error → 500 internal naming the step and POST /retry, never the exception', async () => {
  assert.is((await h.post('allocate', { subscriber_id: 's1' })).status, 201);
  h.ipam.failNext('release', { error: () => new Error(SECRETISH), times: 20 });
  const r = await h.post('revoke', { subscriber_id: 's1' });
  assert.equal([r.status, r.body.error?.code], [500, 'internal'], r.text);
  assert.match(r.body.error.message, /^revoke failed at fake_release after \d+ attempt\(s\) on an internal error \(logged as "step gave up"\); POST \/retry resumes it$/);
  assert.not.match(r.text, 'secret-path');
  assert.not.match(r.text, 'TypeError');
  const l = (await h.get(`${BASE}/lifecycle/s1`)).body;
  assert.equal([l.state, l.failure?.step, l.failure?.code], ['failed', 'fake_release', 'internal']);
  assert.not.match(JSON.stringify(l), 'secret-path');

  // A retry while the cause lasts meets it again, and answers the same way.
  const again = await h.post('retry', { subscriber_id: 's1' });
  assert.equal([again.status, again.body.error?.code], [500, 'internal'], again.text);
  assert.match(again.body.error.message, /^retry failed at fake_release .*; POST \/retry resumes it$/);
  assert.not.match(again.text, 'secret-path');
});

test.run();
