// GenieACS documents the task POST's body as the task with its `_id` (../shared/contracts/genieacs),
// but an answer may come without it. Review 16: a 202 "Task faulted" without `_id` was reported as
// "the NBI kept no fault record" without asking /faults, and the faulted task was left at the ACS
// (retried at every later session); a plain 202 without `_id` was taken as queued with no task.
// The client finds its task by the uniqueKey it sent instead.
import pino from 'pino';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ServiceError } from '../../services/errors.ts';
import { genieacsConfigSchema } from '../../services/genieacs/config.ts';
import { createGenieacsCpe } from '../../services/genieacs/genieacs.ts';
import { startGenieacsNbi, type GenieacsNbi } from '../support/genieacs-nbi.ts';

const PREFIX = '2001:db8:100::/56';
const USER = 'acs-user-16';
const PASSWORD = 'pw-review16-never-logged';
const open: GenieacsNbi[] = [];

async function setup() {
  const nbi = await startGenieacsNbi({ auth: { username: USER, password: PASSWORD } });
  open.push(nbi);
  nbi.answerWithoutTaskId = true;
  const lines: string[] = [];
  const log = pino({ level: 'debug' }, { write: (line: string) => void lines.push(line) });
  const config = genieacsConfigSchema.parse({ url: nbi.url, username_env: 'ACS_USER', password_env: 'ACS_PASSWORD' });
  const cpe = createGenieacsCpe(config, log, { env: { ACS_USER: USER, ACS_PASSWORD: PASSWORD } });
  const configure = (cpeId: string) => cpe.configurePd({ key: 'lc-16:configurePd:1', cpeId, prefix: PREFIX });
  return { nbi, lines, configure };
}

async function failure(promise: Promise<unknown>): Promise<ServiceError> {
  const err = await promise.then(
    (r) => assert.unreachable(`expected a ServiceError, got ${JSON.stringify(r)}`),
    (e: unknown) => e,
  );
  assert.instance(err, ServiceError, `expected a ServiceError, got ${String(err)}`);
  return err as ServiceError;
}

const test = suite('review16: a GenieACS task answer without _id');
test.after.each(async () => {
  await Promise.all(open.splice(0).map((n) => n.close()));
});

test('202 "Task faulted" without _id → upstream_rejected with the fault read, the faulted task deleted', async () => {
  const { nbi, lines, configure } = await setup();
  const d = nbi.addDevice({ mode: 'faulting', fault: { code: '9007', message: 'Invalid parameter value' } });
  const err = await failure(configure(d.id));
  assert.is(err.code, 'upstream_rejected');
  assert.is(err.retryable, false);
  assert.match(err.message, /rejected configurePd \(task [0-9a-f]{24}\): cwmp\.9007 Invalid parameter value/);
  assert.equal(nbi.tasks(d.id), [], 'GenieACS will not retry the faulted task at the next session');
  assert.equal(nbi.faults(d.id), []);
  assert.not.ok(lines.join('\n').includes(PASSWORD), 'no log line carries the password');
});

test('202 "Task queued but not processed" without _id → queued with the task id the ACS holds', async () => {
  const { nbi, configure } = await setup();
  const d = nbi.addDevice({ mode: 'offline' });
  const r = await configure(d.id);
  const held = nbi.tasks(d.id);
  assert.is(held.length, 1);
  assert.equal(r, { status: 'queued', taskId: held[0]!._id });
});

test('202 without _id and no task of ours held (it ran or expired meanwhile) → retryable upstream_unavailable, not queued', async () => {
  const { nbi, lines, configure } = await setup();
  const d = nbi.addDevice({ mode: 'offline' });
  // The look before the POST finds none (true); the look-up after it sees the queued task gone.
  nbi.failNext(2, { method: 'GET', path: /^\/tasks\/?$/, status: 200, body: '[]' });
  const before = nbi.requests.length;
  const err = await failure(configure(d.id));
  assert.is(err.code, 'upstream_unavailable');
  assert.is(err.retryable, true);
  assert.match(err.message, /without the task's _id/);
  assert.ok(nbi.requests.length > before);
  assert.not.ok(lines.join('\n').includes(PASSWORD));
});

test('200 without _id → upstream_rejected naming the url, not done', async () => {
  const { nbi, configure } = await setup();
  const d = nbi.addDevice();
  const err = await failure(configure(d.id));
  assert.is(err.code, 'upstream_rejected');
  assert.is(err.retryable, false);
  assert.match(err.message, /200 without the task the NBI answers with/);
});

test.run();
