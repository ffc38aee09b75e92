// A step that fails for good (IPAM refuses the release, the ACS refuses the task) leaves the lifecycle
// `failed` just as a peer that stays down does, but no retry on its own can cure it. The service
// used to answer every such failure 502 "… POST /retry resumes it", a validation_error or not_found
// even as `upstream_unavailable`: an orchestrator retried a refusal forever, and it read as an outage. Driven through the HTTP API, with
// the real GenieACS client against the NBI stand-in and the fake IPAM's injected refusals.
import pino from 'pino';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ServiceError } from '../../services/errors.ts';
import { createGenieacsCpe } from '../../services/genieacs/genieacs.ts';
import { genieacsConfigSchema } from '../../services/genieacs/config.ts';
import { startGenieacsNbi, type GenieacsNbi } from '../support/genieacs-nbi.ts';
import { BASE, startHarness, type Harness } from '../http/support.ts';

const test = suite('review11: a lifecycle failed for good answers with its failure, not with retry advice');
let nbi: GenieacsNbi;
let h: Harness;
test.before.each(async () => {
  nbi = await startGenieacsNbi();
  const acs = createGenieacsCpe(genieacsConfigSchema.parse({ url: nbi.url, task_timeout_ms: 200 }), pino({ level: 'silent' }));
  h = await startHarness({ wrapCpe: () => acs });
});
test.after.each(async () => {
  await h.close();
  await nbi.close();
});

const CPE = '00D09E-HG8245-0000042';
const activate = async (id: string) => {
  await h.post('allocate', { subscriber_id: id });
  return h.post('activate', { subscriber_id: id, username: `${id}@example.net`, cpe_id: CPE });
};
const lifecycle = async (id: string) => (await h.get(`${BASE}/lifecycle/${id}`)).body;

test('POST /revoke whose IPAM release is refused (validation_error) → 409 upstream_rejected naming it at the step; /retry repeats it, and cures it once IPAM takes it', async () => {
  nbi.addDevice({ id: CPE });
  assert.is((await activate('s1')).status, 200);
  const refused = () => new ServiceError('validation_error', 'fake ipam: the block is not this lifecycle\'s', { field: 'key' });
  h.ipam.failNext('release', { error: refused, times: 2 });
  const r = await h.post('revoke', { subscriber_id: 's1' });
  assert.equal([r.status, r.body.error?.code], [409, 'upstream_rejected'], r.text);
  assert.match(r.body.error.message, /^revoke failed for good at fake_release \(validation_error\) after 1 attempt\(s\): fake ipam: the block/);
  assert.not.match(r.body.error.message, 'POST /retry resumes it');
  assert.match(r.body.error.message, /; POST \/retry repeats the step and gets the same answer until its cause is fixed$/);
  const l = await lifecycle('s1');
  assert.equal([l.state, l.failure?.step, l.failure?.code, l.failure?.attempts], ['failed', 'fake_release', 'validation_error', 1]);

  const again = await h.post('retry', { subscriber_id: 's1' });
  assert.equal([again.status, again.body.error?.code], [409, 'upstream_rejected'], again.text);
  assert.match(again.body.error.message, /^retry failed for good at fake_release \(validation_error\)/);

  const cured = await h.post('retry', { subscriber_id: 's1' });
  assert.equal([cured.status, cured.body.state, cured.body.failure], [200, 'revoked', null], cured.text);
});

test('POST /activate whose task the ACS refuses (400) → 409 upstream_rejected at cpe_configure_pd, after one attempt', async () => {
  nbi.addDevice({ id: CPE });
  nbi.failNext(1, { method: 'POST', path: /\/tasks/, status: 400, body: 'Invalid task' });
  const r = await activate('s2');
  assert.equal([r.status, r.body.error?.code], [409, 'upstream_rejected'], r.text);
  assert.match(r.body.error.message, /^activate failed for good at cpe_configure_pd \(upstream_rejected\) after 1 attempt\(s\): GenieACS .*400/);
  assert.not.match(r.body.error.message, 'POST /retry resumes it');
  assert.match(r.body.error.message, /; POST \/retry repeats the step and gets the same answer until its cause is fixed; POST \/revoke ends the lifecycle instead$/);
  assert.not.match(r.text, 'Invalid task');
  const l = await lifecycle('s2');
  assert.equal([l.state, l.failure?.step, l.failure?.code], ['failed', 'cpe_configure_pd', 'upstream_rejected']);
});

test('an ACS that stays down is still 502 upstream_unavailable "POST /retry resumes it", and the retry does', async () => {
  nbi.addDevice({ id: CPE });
  nbi.failNext(50, { method: 'POST', path: /\/tasks/, status: 503 });
  const r = await activate('s3');
  assert.equal([r.status, r.body.error?.code], [502, 'upstream_unavailable'], r.text);
  assert.match(r.body.error.message, /^activate failed at cpe_configure_pd after 2 attempt\(s\): .*; POST \/retry resumes it$/);
  nbi.clearFaults();
  const cured = await h.post('retry', { subscriber_id: 's3' });
  assert.equal([cured.status, cured.body.state], [200, 'active'], cured.text);
});

test('GET /openapi.json documents the 409 of a lifecycle failed for good and the 502 as retryable', async () => {
  const doc = (await h.get('/openapi.json', { token: null })).body;
  const responses = doc.paths['/api/v1/network/ipv6/activate'].post.responses;
  assert.match(responses['409'].description, /`upstream_rejected`[^;]*failed for good/);
  assert.match(responses['502'].description, /^`upstream_unavailable`[^;]*`POST \/retry` resumes it/);
  assert.match(responses['502'].description, /`upstream_rejected`.*; an operation whose lifecycle failed for good is a 409/);
});

test.run();
