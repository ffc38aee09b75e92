import pino from 'pino';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ServiceError, type ErrorCode } from '../../../services/errors.ts';
import { genieacsConfigSchema, type GenieacsConfig, type GenieacsConfigInput } from '../../../services/genieacs/config.ts';
import { createGenieacsCpe } from '../../../services/genieacs/genieacs.ts';
import { startGenieacsNbi, type GenieacsNbi } from '../../support/genieacs-nbi.ts';

const PREFIX = '2001:db8:100::/56';
const USER = 'acs-proxy-user';
const PASSWORD = 'pw-4f9c2e7a-never-logged';

// Every stub is closed after each test, also after a failed assertion, so a failure cannot hang the run.
const open: GenieacsNbi[] = [];
const closeAll = async () => {
  await Promise.all(open.splice(0).map((n) => n.close()));
};

async function setup(o: { config?: Partial<GenieacsConfigInput>; tweak?: (c: GenieacsConfig) => GenieacsConfig; auth?: boolean; env?: Record<string, string> } = {}) {
  const nbi = await startGenieacsNbi(o.auth ? { auth: { username: USER, password: PASSWORD } } : {});
  open.push(nbi);
  const lines: string[] = [];
  const log = pino({ level: 'debug' }, { write: (line: string) => void lines.push(line) });
  const parsed = genieacsConfigSchema.parse({ url: nbi.url, ...o.config });
  const cpe = createGenieacsCpe(o.tweak ? o.tweak(parsed) : parsed, log, { env: o.env ?? {} });
  const configure = (cpeId: string, key = 'lc-1:configurePd:1', signal?: AbortSignal) => cpe.configurePd({ key, cpeId, prefix: PREFIX }, signal);
  const remove = (cpeId: string, key = 'lc-1:removeIpv6:1') => cpe.removeIpv6({ key, cpeId });
  return { nbi, cpe, lines, configure, remove };
}

async function rejects(promise: Promise<unknown>, code: ErrorCode): Promise<ServiceError> {
  try {
    await promise;
  } catch (err) {
    assert.instance(err, ServiceError, `expected a ServiceError ${code}, got ${String(err)}`);
    assert.is((err as ServiceError).code, code, (err as ServiceError).message);
    return err as ServiceError;
  }
  assert.unreachable(`expected ${code}, but the call succeeded`);
  throw new Error('unreachable');
}

const posts = (nbi: GenieacsNbi) => nbi.requests.filter((r) => r.method === 'POST');

const wire = suite('GenieACS NBI requests');

wire('configurePd() POSTs to /devices/<encodeURIComponent(id)>/tasks?timeout=3000&connection_request (%2D → %252D)', async () => {
  const { nbi, configure } = await setup();
  const d = nbi.addDevice({ id: '00236a-SR552n-SR552NA084%2D0003269' });
  assert.equal(await configure(d.id), { status: 'done' });
  const [post] = posts(nbi);
  assert.is(post?.url, '/devices/00236a-SR552n-SR552NA084%252D0003269/tasks?timeout=3000&connection_request');
});

wire('configurePd() sends one setParameterValues with the TR-181 enable set, uniqueKey from the key, and expiry', async () => {
  const { nbi, configure } = await setup({ config: { task_timeout_ms: 1500, task_expiry_s: 3600 } });
  const d = nbi.addDevice();
  await configure(d.id, 'lc-7:configurePd:2');
  const post = posts(nbi)[0]!;
  assert.ok(post.url.endsWith('/tasks?timeout=1500&connection_request'));
  assert.equal(JSON.parse(post.body), {
    name: 'setParameterValues',
    parameterValues: [
      ['Device.IP.IPv6Enable', true, 'xsd:boolean'],
      ['Device.IP.Interface.2.IPv6Enable', true, 'xsd:boolean'],
      ['Device.DHCPv6.Client.1.RequestPrefixes', true, 'xsd:boolean'],
      ['Device.DHCPv6.Client.1.Enable', true, 'xsd:boolean'],
    ],
    uniqueKey: 'ipv6-lifecycle:lc-7:configurePd:2',
    expiry: 3600,
  });
  assert.is(nbi.value(d.id, 'Device.DHCPv6.Client.1.Enable'), true);
});

wire('removeIpv6() turns the client, IA_PD and the WAN IPv6 off and leaves Device.IP.IPv6Enable (LAN) alone', async () => {
  const { nbi, configure, remove } = await setup();
  const d = nbi.addDevice();
  await configure(d.id);
  assert.equal(await remove(d.id), { status: 'done' });
  assert.is(nbi.value(d.id, 'Device.DHCPv6.Client.1.Enable'), false);
  assert.is(nbi.value(d.id, 'Device.DHCPv6.Client.1.RequestPrefixes'), false);
  assert.is(nbi.value(d.id, 'Device.IP.Interface.2.IPv6Enable'), false);
  assert.is(nbi.value(d.id, 'Device.IP.IPv6Enable'), true);
  assert.ok(JSON.parse(posts(nbi)[1]!.body).parameterValues.every((p: unknown[]) => p[0] !== 'Device.IP.IPv6Enable'));
});

wire('offline → "Task queued but not processed" → queued with the task id the ACS holds', async () => {
  const { nbi, configure } = await setup();
  const d = nbi.addDevice({ mode: 'offline' });
  const r = await configure(d.id);
  assert.equal(r, { status: 'queued', taskId: nbi.tasks(d.id)[0]!._id });
});

wire('a connection-request error as the reason phrase → queued, not an error', async () => {
  const { nbi, configure } = await setup();
  const d = nbi.addDevice({ mode: 'unreachable' });
  const r = await configure(d.id);
  assert.is(r.status, 'queued');
  assert.is(nbi.tasks(d.id).length, 1);
});

const faults = suite('GenieACS faults and errors');

faults('"Task faulted" → upstream_rejected with the cwmp code, not retryable, and the faulted task deleted', async () => {
  const { nbi, configure } = await setup();
  const d = nbi.addDevice({ mode: 'faulting', fault: { code: '9005', message: 'Invalid parameter name' } });
  const err = await rejects(configure(d.id), 'upstream_rejected');
  assert.is(err.retryable, false);
  assert.match(err.message, /^CPE 00AABB-PD%2DCPE-SIM\d+ rejected configurePd \(task [0-9a-f]{24}\): cwmp\.9005 Invalid parameter name/);
  const taskId = /task ([0-9a-f]{24})/.exec(err.message)![1]!;
  assert.ok(nbi.requests.some((r) => r.method === 'GET' && r.url.startsWith('/faults/?query=') && decodeURIComponent(r.url).includes(`"${d.id}:task_${taskId}"`)));
  assert.ok(nbi.requests.some((r) => r.method === 'DELETE' && r.url === `/tasks/${taskId}`));
  assert.equal(nbi.tasks(d.id), [], 'GenieACS will not retry it at the next session');
  assert.equal(nbi.faults(d.id), []);
});

faults('a path the CPE lacks → cwmp.9003 with the parameter that faulted (9005) in the message', async () => {
  const { nbi, configure } = await setup({ config: { wan_interface: 'Device.IP.Interface.7' } });
  const d = nbi.addDevice();
  const err = await rejects(configure(d.id), 'upstream_rejected');
  assert.match(err.message, /cwmp\.9003 Invalid arguments \(Device\.IP\.Interface\.7\.IPv6Enable: 9005 Invalid parameter name\)/);
  assert.is(nbi.value(d.id, 'Device.DHCPv6.Client.1.Enable'), false, 'SetParameterValues is all or nothing');
});

faults('the fault record unreadable (503) → still upstream_rejected, and the task still deleted', async () => {
  const { nbi, configure } = await setup();
  const d = nbi.addDevice({ mode: 'faulting' });
  nbi.failNext(1, { method: 'GET', path: /^\/faults/ });
  const err = await rejects(configure(d.id), 'upstream_rejected');
  assert.match(err.message, /fault record could not be read/);
  assert.equal(nbi.tasks(d.id), []);
});

faults('503 from the NBI → retryable upstream_unavailable, and no task was stored', async () => {
  const { nbi, configure } = await setup();
  const d = nbi.addDevice();
  nbi.failNext(1, { method: 'POST' });
  const err = await rejects(configure(d.id), 'upstream_unavailable');
  assert.is(err.retryable, true);
  assert.match(err.message, /503/);
  assert.equal(await configure(d.id), { status: 'done' }, 'the caller retries with the same key');
});

faults('NBI down, or slower than timeout_ms → retryable upstream_unavailable', async () => {
  const { nbi, configure } = await setup({ tweak: (c) => ({ ...c, timeout_ms: 100 }) });
  const d = nbi.addDevice();
  nbi.setDown(true);
  assert.is((await rejects(configure(d.id), 'upstream_unavailable')).retryable, true);
  nbi.setDown(false);
  nbi.delayMs = 400;
  const slow = await rejects(configure(d.id), 'upstream_unavailable');
  assert.is(slow.retryable, true);
  assert.match(slow.message, /no answer within 100 ms/);
});

faults('an aborted signal → retryable timeout; aborted before the call → nothing sent', async () => {
  const { nbi, configure } = await setup();
  const d = nbi.addDevice();
  await rejects(configure(d.id, 'k', AbortSignal.abort()), 'timeout');
  assert.is(nbi.requests.length, 0);
  nbi.delayMs = 300;
  const ctl = new AbortController();
  setTimeout(() => ctl.abort(), 30);
  assert.is((await rejects(configure(d.id, 'k', ctl.signal), 'timeout')).retryable, true);
});

faults('unknown device → not_found on cpe_id; a 404 of a wrong base URL → upstream_rejected', async () => {
  const { nbi, configure } = await setup();
  const err = await rejects(configure('00AABB-PDCPE-NOSUCH'), 'not_found');
  assert.is(err.field, 'cpe_id');
  const wrong = await setup({ config: { url: `${nbi.url}/nbi` } });
  const d = wrong.nbi.addDevice();
  const rejected = await rejects(wrong.configure(d.id), 'upstream_rejected');
  assert.match(rejected.message, /check genieacs\.url/);
});

faults('a bad device id → validation_error on cpe_id and no HTTP request', async () => {
  const { nbi, cpe, configure, remove } = await setup();
  for (const id of ['', 'a b', '00AABB/../x', '00AABB-X-%ZZ1', '00AABB-X-100%', 'a.b-c-d', 'ü-x-y', 'a?b', 'x'.repeat(257)]) {
    assert.is((await rejects(configure(id), 'validation_error')).field, 'cpe_id', id);
    assert.is((await rejects(remove(id), 'validation_error')).field, 'cpe_id', id);
  }
  await rejects(cpe.configurePd({ key: '', cpeId: '00AABB-X-1', prefix: PREFIX }), 'validation_error');
  assert.is(nbi.requests.length, 0);
});

const auth = suite('GenieACS basic auth');
const authEnv = { ACS_USER: USER, ACS_PASSWORD: PASSWORD };
const authConfig = { username_env: 'ACS_USER', password_env: 'ACS_PASSWORD' };

auth('credentials from username_env/password_env go into a Basic Authorization header on every request', async () => {
  const { nbi, configure } = await setup({ auth: true, config: authConfig, env: authEnv });
  const d = nbi.addDevice({ mode: 'faulting' });
  await rejects(configure(d.id), 'upstream_rejected');
  const want = `Basic ${Buffer.from(`${USER}:${PASSWORD}`).toString('base64')}`;
  assert.equal(nbi.requests.map((r) => r.method), ['GET', 'POST', 'GET', 'DELETE'], 'GET tasks, POST, GET fault, DELETE task');
  assert.ok(nbi.requests.every((r) => r.authorization === want));
});

auth('an unset variable fails at creation, naming the variable and not a value', async () => {
  const config = genieacsConfigSchema.parse({ url: 'http://acs:7557', ...authConfig });
  const log = pino({ level: 'silent' });
  assert.throws(() => createGenieacsCpe(config, log, { env: { ACS_USER: USER } }), (e: unknown) => e instanceof ServiceError && e.code === 'validation_error' && /ACS_PASSWORD is not set/.test(e.message) && !e.message.includes(USER));
});

auth('no secret reaches an error message or a log line (401, 5xx body echoing the header, faults)', async () => {
  const b64 = Buffer.from(`${USER}:${PASSWORD}`).toString('base64');
  const wrong = await setup({ auth: true, config: authConfig, env: { ACS_USER: USER, ACS_PASSWORD: 'wrong-password' } });
  const denied = await rejects(wrong.configure(wrong.nbi.addDevice().id), 'upstream_rejected');
  assert.match(denied.message, /401, the NBI refused the credentials from ACS_USER\/ACS_PASSWORD/);
  assert.not.match(denied.message, /wrong-password/);

  const { nbi, configure, lines } = await setup({ auth: true, config: authConfig, env: authEnv });
  nbi.failNext(1, { status: 502, body: `proxy error for Authorization: Basic ${b64} (${PASSWORD})` });
  const echoed = await rejects(configure(nbi.addDevice().id), 'upstream_unavailable');
  // The body is the log's (detail, redacted); the message, which API answers carry, names the status.
  assert.match(echoed.detail ?? '', /proxy error for Authorization: Basic \[redacted\]/);
  assert.not.match(echoed.message, /proxy error/);
  const messages = [echoed.message, echoed.detail ?? ''];
  messages.push((await rejects(configure(nbi.addDevice({ mode: 'faulting' }).id), 'upstream_rejected')).message);
  nbi.setDown(true);
  messages.push((await rejects(configure(nbi.addDevice().id), 'upstream_unavailable')).message);
  for (const text of [...messages, ...lines]) {
    assert.not.ok(text.includes(PASSWORD) || text.includes(b64), `leaked: ${text}`);
  }
  assert.ok(lines.length > 0, 'the log was captured');
});

for (const s of [wire, faults, auth]) s.after.each(closeAll);

wire.run();
faults.run();
auth.run();
