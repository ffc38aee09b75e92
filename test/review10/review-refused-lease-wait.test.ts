// Review 10 (review of 516d276, several instances): an operation refused with 503 "not started"
// while another instance held the subscriber's lease went on waiting for that lease: its instance
// polled the database for it (every 250 ms) as long as the other held it (a parked activation: hours),
// then took the lease, read and hydrated the subscriber, and refused it only then, the operations
// sent again queued behind it. A refused operation's lease wait now ends, and its work never runs.
import pino from 'pino';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createOwnership } from '../../runtime/ownership.ts';
import { SubscriberQueues, type QueuedEntry } from '../../runtime/subscriber-queue.ts';
import type { Lease, LeaseStore } from '../../store/postgresql/leases.ts';

const test = suite('review10: a refused operation stops waiting for the lease');
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('another instance holds the subscriber: once refused, no more acquire attempts, and the work never runs', async () => {
  let attempts = 0;
  const lease = (subscriberId: string): Lease => ({ subscriberId, owner: 'b', token: 1, expiresAt: new Date(Date.now() + 60_000) });
  const leases = {
    acquire: async (key: string) => (key === 's' ? (attempts++, null) : lease(key)),
    renewMany: async () => [],
    release: async () => true,
    live: async () => true,
  } as unknown as LeaseStore;
  const ownership = createOwnership({ leases, owner: 'b', leaseMs: 60_000, log: pino({ level: 'silent' }) });
  const queues = new SubscriberQueues<QueuedEntry>({
    ownership,
    lifecyclesOf: () => [],
    entry: () => undefined,
    evict: () => undefined,
    settle: async () => undefined,
    idle: () => undefined,
    ending: () => false,
  });
  let refused = false;
  let ran = false;
  const run = queues.exclusive('s', async () => void (ran = true), undefined, () => refused);
  const outcome = run.then(
    () => 'ran',
    (err: Error) => err.message,
  );
  await sleep(300);
  assert.ok(attempts > 0, 'it polled while the operation waited');
  refused = true;
  await sleep(300);
  const after = attempts;
  await sleep(1000);
  assert.is(attempts, after, `${attempts - after} attempts after the refusal`);
  assert.match(await Promise.race([outcome, sleep(10).then(() => 'still waiting')]), /not started/);
  assert.is(ran, false);
  await ownership.stop();
});

test.run();
