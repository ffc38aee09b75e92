// The several-instances harness on SQLite (each instance its own file): the processes start from
// one configuration on their own ports, answer through the REST API, and obey SIGSTOP, SIGCONT and
// SIGKILL; a restarted instance finds its data again.
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startFleet, type Fleet } from './instances.ts';

const test = suite('test/support/instances');
let fleet: Fleet | null = null;
test.after(async () => void (await fleet?.close()));

const answers = (origin: string, path: string) => fetch(`${origin}${path}`, { signal: AbortSignal.timeout(500) }).then((r) => r.status, () => 'no answer');

test('two instances from one configuration: own ports and PIDs, the API token from the environment, each its own database', async () => {
  fleet = await startFleet({ count: 2, config: (dir, i) => ({ database: join(dir, `own-${i}.sqlite`), log: { level: 'warn' } }) });
  const [a, b] = fleet.instances as [NonNullable<Fleet['instances'][0]>, NonNullable<Fleet['instances'][0]>];
  assert.is.not(a.port, b.port);
  assert.ok(a.pid && b.pid && a.pid !== b.pid);
  assert.ok(a.owns(`host-${a.pid}-3f9a`) && !b.owns(`host-${a.pid}-3f9a`), 'a lease owner naming a PID names that instance only');
  const allocated = await a.call('POST', 'allocate', { subscriber_id: 'harness-1' });
  assert.equal([allocated.status, allocated.body.state], [201, 'allocated']);
  assert.is((await b.call('GET', 'lifecycle/harness-1')).status, 404, "b has its own file: a's lifecycle is not there");
  const unauthorised = await fetch(`${a.origin}/api/v1/network/ipv6/lifecycle/harness-1`);
  assert.is(unauthorised.status, 401);
});

test('SIGSTOP freezes an instance (no answer) until SIGCONT; SIGKILL ends it; started again it has its data', async () => {
  const [a, b] = fleet!.instances as [NonNullable<Fleet['instances'][0]>, NonNullable<Fleet['instances'][0]>];
  a.freeze();
  try {
    assert.is(await answers(a.origin, '/healthz'), 'no answer');
    assert.is(await answers(b.origin, '/healthz'), 200, 'the other one runs on');
  } finally {
    a.thaw();
  }
  assert.is(await answers(a.origin, '/healthz'), 200);
  const pid = a.pid!;
  await a.kill();
  assert.is(a.pid, null);
  assert.throws(() => process.kill(pid, 0));
  assert.is(await answers(a.origin, '/healthz'), 'no answer');
  await a.start();
  assert.is.not(a.pid, pid);
  const got = await a.call('GET', 'lifecycle/harness-1');
  assert.equal([got.status, got.body.state], [200, 'allocated']);
});

test.run();
