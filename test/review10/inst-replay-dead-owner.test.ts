// An Idempotency-Key replayed on another instance just after the instance running it was SIGKILLed
// while the operation still waited its turn (nothing accepted yet, the dead owner's own lease not
// yet run out). Found by inst-kill-churn: the replay answered 202 "still running" for an operation
// nobody would ever run, the key stayed pending in the dead instance's name, and the client, told to
// poll, saw the lifecycle never change. A client that does what the answers say gets it done.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { LEASE_MS, startRig, type Rig } from '../support/instances-config.ts';
import { invariantDb, type InvariantDb } from '../support/instances-db.ts';
import { cpeTaskPosts } from '../support/instances-takeover.ts';
import { eventually, sleep, type Answer } from '../support/instances.ts';
import { postgresAvailable } from '../support/postgres.ts';

const test = suite('review10: a key replayed while its dead owner had not yet accepted it');
let rig: Rig | null = null;
let db: InvariantDb | null = null;
test.after(async () => {
  await db?.close();
  await rig?.close();
});

test('POST /suspend replayed on b right after a, queueing it behind a slow activate, was SIGKILLed → no 202 for work nobody runs; the client\'s retries end suspended, suspended once', async () => {
  if (!postgresAvailable('three instances on one PostgreSQL')) return;
  rig = await startRig(3, 'replaydead');
  db = invariantDb(rig.url);
  const [a, b] = rig.fleet.instances as [NonNullable<Rig['fleet']['instances'][0]>, NonNullable<Rig['fleet']['instances'][0]>];
  const s = 'replay-dead-owner';
  const cpe = rig.acs.addDevice();
  assert.is((await a.call('POST', 'allocate', { subscriber_id: s })).status, 201);
  const from = rig.acs.requests.length;
  rig.acs.delayMs = 4000;
  assert.is((await a.call('POST', 'activate?wait=0', { subscriber_id: s, username: `${s}@isp`, cpe_id: cpe.id })).status, 202);
  await eventually('the activation reaching the ACS', 10_000, async () => (cpeTaskPosts(rig!, cpe.id, from).length > 0 ? true : undefined));
  const key = { 'Idempotency-Key': 'review10-suspend-dead-owner' };
  const body = { subscriber_id: s, reason: 'unpaid' };
  // Queued on a behind the activation; the client's connection goes with a.
  void a.call('POST', 'suspend?wait=20000', body, key).catch(() => undefined);
  await eventually('the key begun on a', 5000, async () => ((await db!.pool.query("SELECT 1 FROM idempotency WHERE key = 'review10-suspend-dead-owner'")).rowCount ? true : undefined));
  await a.kill();
  rig.acs.delayMs = 0;

  // The client's retry through the load balancer, with a short wait: a's own lease has not run out.
  const answers: string[] = [];
  let got: Answer | undefined;
  const deadline = Date.now() + 15_000;
  while (Date.now() < deadline) {
    got = await b.call('POST', 'suspend?wait=500', body, key);
    answers.push(`${got.status} ${got.body?.state ?? got.body?.error?.code ?? ''}`);
    if (got.status < 500) break;
    await sleep(500);
  }
  // A 202 says the suspension runs: polled, it comes (within a few leases).
  const final = got?.status === 202
    ? await eventually(`${s} suspended after a 202 (answers ${answers.join(', ')})`, 6 * LEASE_MS, async () => {
        const l = await b.call('GET', `lifecycle/${s}`);
        return l.body?.state === 'suspended' ? l.body : undefined;
      }).catch((e: Error) => ({ state: `never (${e.message})` }))
    : got?.body;
  assert.is(final?.state, 'suspended', `answers ${answers.join(', ')}${rig.fleet.warnings()}`);
  const suspends = (await db.audit(s)).filter((r) => r.type === 'SUSPEND').length;
  assert.is(suspends, 1, 'one SUSPEND in the audit trail');
  const pending = await db.pool.query('SELECT 1 FROM idempotency WHERE status = 202');
  assert.is(pending.rowCount, 0, 'no key left pending');
  await a.start();
});

test.run();
