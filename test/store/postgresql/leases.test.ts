// Leases with fencing tokens and the leader's advisory lock, on a real PostgreSQL, with instances
// as separate pools (or connections) on one database.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startLeaderElection } from '../../../store/postgresql/leader.ts';
import { FencedError } from '../../../store/postgresql/leases.ts';
import { openPostgresStore } from '../../../store/postgresql/store.ts';
import { auditEntry, lifecycleRow } from '../../support/lifecycle-rows.ts';
import { postgresAvailable, startPostgres, type PgCluster } from '../../support/postgres.ts';

const test = suite('store/postgresql leases and leader');
let cluster: PgCluster | null = null;
let n = 0;
test.after(async () => void (await cluster?.stop()));

type Store = Awaited<ReturnType<typeof openPostgresStore>>;
/** `count` instances on one fresh database; closed when `fn` ends. */
async function instances<T>(count: number, fn: (stores: Store[], url: string) => Promise<T>): Promise<T | undefined> {
  if (!postgresAvailable('PostgreSQL leases')) return undefined;
  cluster ??= await startPostgres();
  const url = await cluster.createDatabase(`leases_${++n}`);
  const stores: Store[] = [];
  for (let i = 0; i < count; i++) stores.push(await openPostgresStore({ url, max: 3 }));
  try {
    return await fn(stores, url);
  } finally {
    await Promise.all(stores.map((s) => s.close()));
  }
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

test('a lease held → nobody else takes it; its owner extends it with the same token', async () => {
  await instances(2, async ([a, b]) => {
    const held = (await a!.leases.acquire('l1', 'A', 10_000))!;
    assert.is(held.owner, 'A');
    assert.is(await b!.leases.acquire('l1', 'B', 10_000), null);
    const again = (await a!.leases.acquire('l1', 'A', 20_000))!;
    assert.is(again.token, held.token);
    assert.ok(again.expiresAt > held.expiresAt);
    assert.is((await a!.leases.renew(held, 30_000))?.token, held.token);
    assert.is(await b!.leases.takeOverExpired('B', 10_000, 10).then((l) => l.length), 0);
  });
});

test('an owner paused past its lease → another takes over with a greater token; the old owner\'s writes and renewals are refused', async () => {
  await instances(2, async ([a, b]) => {
    const row = lifecycleRow({ id: 'l1', state: 'revoking' });
    const old = (await a!.leases.acquire('sub-l1', 'A', 150))!;
    await a!.leases.saveFenced([{ row, audit: auditEntry(row, 'REVOKE'), token: old.token }]);
    await sleep(250); // A is "frozen" past its lease
    const [taken] = await b!.leases.takeOverExpired('B', 10_000, 10);
    assert.is(taken?.subscriberId, 'sub-l1');
    assert.ok(taken!.token > old.token, 'fencing tokens only grow');
    const done = { ...row, state: 'revoked', revoked_at: '2026-01-01T00:01:00.000Z', updated_at: '2026-01-01T00:01:00.000Z' };
    await b!.leases.saveFenced([{ row: done, audit: auditEntry(done, 'REVOKED', 'revoking'), token: taken!.token }]);
    // A wakes up and writes what it had computed: refused, whole, and nothing of it lands.
    const stale = { ...row, state: 'failed', updated_at: '2026-01-01T00:02:00.000Z' };
    const other = lifecycleRow({ id: 'l2' });
    const otherLease = (await a!.leases.acquire('sub-l2', 'A', 10_000))!;
    let err: unknown = null;
    await a!.leases
      .saveFenced([
        { row: other, audit: auditEntry(other, 'CREATED'), token: otherLease.token },
        { row: stale, audit: auditEntry(stale, 'FAILED', 'revoking'), token: old.token },
      ])
      .catch((e: unknown) => (err = e));
    assert.instance(err, FencedError);
    assert.equal((err as FencedError).subscriberIds, ['sub-l1']);
    assert.is((await a!.lifecycles.get('l1'))?.state, 'revoked');
    assert.is(await a!.lifecycles.get('l2'), undefined);
    assert.equal((await a!.lifecycles.events('sub-l1')).map((e) => e.type), ['REVOKE', 'REVOKED']);
    assert.is(await a!.leases.renew(old, 10_000), null);
    assert.is(await a!.leases.release(old), false);
    assert.is((await b!.leases.get('sub-l1'))?.owner, 'B');
    // A write with no lease at all is refused too.
    let unleased: unknown = null;
    await a!.leases.saveFenced([{ row: lifecycleRow({ id: 'l3' }), audit: auditEntry(lifecycleRow({ id: "l3" }), "CREATED"), token: 1 }]).catch((e: unknown) => (unleased = e));
    assert.instance(unleased, FencedError);
  });
});

test('three instances taking over 60 expired leases at once → each taken exactly once (SKIP LOCKED)', async () => {
  await instances(3, async (stores) => {
    const ids = Array.from({ length: 60 }, (_, i) => `l${i}`);
    for (const id of ids) await stores[0]!.leases.acquire(id, 'dead', 50);
    await sleep(150);
    const taken = await Promise.all(
      stores.map(async (s, i) => {
        const mine: string[] = [];
        for (;;) {
          const got = await s.leases.takeOverExpired(`I${i}`, 10_000, 7);
          if (got.length === 0) return mine;
          mine.push(...got.map((l) => l.subscriberId));
        }
      }),
    );
    assert.equal(taken.flat().sort(), [...ids].sort());
    for (const [i, mine] of taken.entries()) for (const id of mine) assert.is((await stores[0]!.leases.get(id))?.owner, `I${i}`);
  });
});

test('release → another instance acquires at once, with a new token', async () => {
  await instances(2, async ([a, b]) => {
    const held = (await a!.leases.acquire('l1', 'A', 60_000))!;
    assert.is(await a!.leases.release(held), true);
    const next = (await b!.leases.acquire('l1', 'B', 60_000))!;
    assert.ok(next.token > held.token);
  });
});

test('leader: one of three candidates leads; its connection killed → another leads within the interval, the old one steps down', async () => {
  await instances(1, async ([store], url) => {
    const changes: string[] = [];
    const candidates = [0, 1, 2].map((i) => startLeaderElection({ url, intervalMs: 50, onChange: (v) => changes.push(`${i}:${v}`) }));
    try {
      const until = async (ok: () => boolean, what: string) => {
        const deadline = Date.now() + 5000;
        while (!ok()) {
          if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}: ${changes.join(' ')}`);
          await sleep(20);
        }
      };
      const leaders = () => candidates.filter((c) => c.isLeader);
      await until(() => leaders().length === 1, 'a leader');
      await sleep(200);
      assert.is(leaders().length, 1, 'never two leaders');
      const first = candidates.indexOf(leaders()[0]!);
      // Kill the leader's session from outside (a crash, a partition the server noticed).
      await store!.pool.query(
        `SELECT pg_terminate_backend(l.pid) FROM pg_locks AS l WHERE l.locktype = 'advisory' AND l.granted AND l.pid <> pg_backend_pid()`,
      );
      // It steps down; a leader is back within the interval (it may be the same candidate once
      // it has reconnected: the lock is free for whoever asks first).
      await until(() => changes.includes(`${first}:false`), 'the old leader to step down');
      await until(() => leaders().length === 1, 'a new leader');
      // Stopping the leader hands over too.
      const second = candidates.indexOf(leaders()[0]!);
      await candidates[second]!.stop();
      await until(() => leaders().length === 1 && !candidates[second]!.isLeader, 'a third leader');
    } finally {
      await Promise.all(candidates.map((c) => c.stop()));
    }
    const { rows } = await store!.pool.query<{ n: number }>("SELECT count(*) AS n FROM pg_locks WHERE locktype = 'advisory'");
    assert.is(rows[0]!.n, 0, 'every candidate stopped has given the lock up');
  });
});

test.run();
