// Ownership of subscribers' work among instances (runtime/ownership.ts), over leases on a real
// PostgreSQL: waiting for another owner, fenced writes after a take-over, claiming work nobody holds.
import pino from 'pino';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createOwnership, type Ownership } from '../../runtime/ownership.ts';
import { openPostgresStore } from '../../store/postgresql/store.ts';
import { auditEntry, lifecycleRow } from '../support/lifecycle-rows.ts';
import { postgresAvailable, startPostgres, type PgCluster } from '../support/postgres.ts';

const test = suite('runtime ownership (leases on PostgreSQL)');
let cluster: PgCluster | null = null;
let n = 0;
test.after(async () => void (await cluster?.stop()));
const log = pino({ level: 'silent' });
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

type Store = Awaited<ReturnType<typeof openPostgresStore>>;
/** Two instances (a store and an ownership each) on one fresh database. */
async function two(leaseMs: number, fn: (a: { store: Store; own: Ownership; lost: string[] }, b: { store: Store; own: Ownership; lost: string[] }) => Promise<void>) {
  if (!postgresAvailable('ownership over PostgreSQL leases')) return;
  cluster ??= await startPostgres();
  const url = await cluster.createDatabase(`ownership_${++n}`);
  const make = async (name: string) => {
    const store = await openPostgresStore({ url, max: 3 });
    const lost: string[] = [];
    return { store, lost, own: createOwnership({ leases: store.leases, owner: name, leaseMs, log, onLost: (k) => lost.push(k) }) };
  };
  const a = await make('A');
  const b = await make('B');
  try {
    await fn(a, b);
  } finally {
    for (const x of [a, b]) {
      await x.own.stop();
      await x.store.close();
    }
  }
}

test('hold() waits while another instance holds the subscriber and gets it once that one releases', async () => {
  await two(10_000, async (a, b) => {
    await a.own.hold('sub-1');
    let got = false;
    const waiting = b.own.hold('sub-1').then(() => (got = true));
    await sleep(150);
    assert.not.ok(got, 'B waits');
    await a.own.release('sub-1');
    await waiting;
    assert.is((await b.store.leases.get('sub-1'))?.owner, 'B');
  });
});

test('a holder frozen past its lease: B takes it over; A\'s writes are refused (lost), the others of its batch written; renewal tells A', async () => {
  await two(300, async (a, b) => {
    await a.own.hold('sub-l1');
    await a.own.hold('sub-l2');
    // A "freezes" past its lease: expired from outside, as a pause longer than lease_ms would leave it.
    await a.store.pool.query("UPDATE leases SET expires_at = now() - interval '1 second' WHERE subscriber_id = 'sub-l1'");
    assert.equal(await b.own.claim(10), ['sub-l1'], 'B claims the expired lease');
    const l1 = lifecycleRow({ id: 'l1' });
    const l2 = lifecycleRow({ id: 'l2' });
    const lost = await a.own.save([
      { row: l1, audit: auditEntry(l1, 'CREATED') },
      { row: l2, audit: auditEntry(l2, 'CREATED') },
    ]);
    assert.equal([...lost], ['sub-l1']);
    assert.is(await a.store.lifecycles.get('l1'), undefined, 'nothing of the lost subscriber written');
    assert.is((await a.store.lifecycles.get('l2'))?.id, 'l2', 'the rest of the batch written');
    // Written by its new owner, it stays B's.
    assert.equal([...(await b.own.save([{ row: l1, audit: auditEntry(l1, 'CREATED') }]))], []);
    assert.is((await a.store.lifecycles.get('l1'))?.id, 'l1');
    await sleep(250);
    assert.is((await a.store.leases.get('sub-l2'))?.owner, 'A', 'A renews what it still holds');
  });
});

test('renewal finds a lease taken over → onLost, and hold() must take it anew', async () => {
  await two(300, async (a, b) => {
    await a.own.hold('sub-x');
    await a.store.pool.query("UPDATE leases SET expires_at = now() - interval '1 second' WHERE subscriber_id = 'sub-x'");
    await b.own.claim(10);
    await sleep(250);
    assert.equal(a.lost, ['sub-x']);
    assert.is(a.own.size, 0);
  });
});

test('claim(): work in flight with no lease (given up by a stopped instance) is claimed by one instance only', async () => {
  await two(10_000, async (a, b) => {
    const rows = Array.from({ length: 20 }, (_, i) => lifecycleRow({ id: `b${i}`, state: 'revoking', busy: 1 }));
    await a.store.lifecycles.saveBatch(rows.map((row) => ({ row, audit: auditEntry(row, 'REVOKE') })));
    const idle = lifecycleRow({ id: 'idle' });
    await a.store.lifecycles.saveBatch([{ row: idle, audit: auditEntry(idle, 'CREATED') }]);
    const [ca, cb] = await Promise.all([a.own.claim(100), b.own.claim(100)]);
    assert.equal([...ca, ...cb].sort(), rows.map((r) => r.subscriber_id).sort(), 'each busy subscriber claimed exactly once, the idle one not');
    assert.equal(await a.own.claim(100), [], 'held now: nothing left to claim');
  });
});

test.run();
