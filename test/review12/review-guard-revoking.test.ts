// The allocation guard (runtime/allocation-guard.ts) against a holder that is revoking. IPAM hands a
// prefix out once the revocation's last step (ipam_free) has given it back; the store shows the
// lifecycle revoked only once that step's result is written (the next group commit, a transient
// write error's backoff, another instance's pool on PostgreSQL). An allocation answered in between
// met the guard, which refused it for good (409, lifecycle failed) as if the database were restored
// from an old backup. A revoking holder is a revocation finishing: the step waits for it (retried as
// unavailable), and takes the prefix once the store shows it revoked.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import pino from 'pino';
import { createActor, toPromise, type AnyActorLogic } from 'xstate';
import { createStepActors } from '../../runtime/step-actors.ts';
import { createFakeIpam } from '../../services/ipam/fake.ts';
import type { ServiceError } from '../../services/errors.ts';
import { openDatabase } from '../../store/db.ts';
import { sqliteStorePort } from '../../store/sqlite-port.ts';
import { lifecycleRow } from '../support/lifecycle-rows.ts';

const POOL = { name: 'p', prefix: '2001:db8:100::/48', prefixLength: 56 };
const INPUT = { key: 'lc-2:allocate:0', lifecycleId: 'lc-2', subscriberId: 'sub-2', pool: 'p', prefixLength: 56, generation: 0 };
const P = '2001:db8:100::/56';

const test = suite('review12: the allocation guard and a revocation finishing');

function rig(afterAsked: () => Promise<void> = async () => {}) {
  const db = openDatabase(':memory:');
  const store = sqliteStorePort(db, () => db.close());
  const ipam = createFakeIpam([POOL]);
  const made = createStepActors(
    { ipam, replies: null, sessions: null, cpe: null },
    {
      retry: { attempts: 3, baseMs: 20, maxMs: 20, retryAfterMaxMs: 0 },
      sessionAction: { suspend: 'disconnect', reactivate: 'coa', update: 'coa', revoke: 'disconnect' },
      log: pino({ level: 'silent' }),
      ipamKind: () => 'netbox',
      prefixHolder: async (prefix, id) => {
        const holder = await store.lifecycles.prefixHolder(prefix, id);
        await afterAsked();
        return holder;
      },
    },
  );
  return { store, ipam, allocatePrefix: made.allocatePrefix };
}
const run = (logic: AnyActorLogic, input: unknown) => toPromise(createActor(logic, { input }).start());

test('P freed by lc-1, whose revoked state is written a moment later → lc-2 gets P, not a refusal for good', async () => {
  // lc-1's ipam_free has run (IPAM no longer holds P); the store still shows it revoking, and its
  // revoked state is written just after the guard's first look.
  const revoking = lifecycleRow({ id: 'lc-1', subscriber_id: 'sub-1', state: 'revoking', busy: 1, prefix: P });
  let written = false;
  const { store, ipam, allocatePrefix } = rig(async () => {
    if (!written) await store.lifecycles.save({ ...revoking, state: 'revoked', busy: 0 }, null);
    written = true;
  });
  await store.lifecycles.save(revoking, null);
  let out: { result: { prefix: string } } | ServiceError;
  try {
    out = (await run(allocatePrefix, INPUT)) as { result: { prefix: string } };
  } catch (err) {
    out = err as ServiceError;
  }
  assert.ok('result' in out, `the step failed: ${(out as Error).message}`);
  assert.is(out.result.prefix, P);
  assert.equal(ipam.allocations().map((a) => [a.prefix, a.lifecycleId]), [[P, 'lc-2']]);
  await store.close();
});

test('a holder that stays revoking → the step gives P back and fails retryable (unavailable), never upstream_rejected', async () => {
  const { store, ipam, allocatePrefix } = rig();
  await store.lifecycles.save(lifecycleRow({ id: 'lc-1', subscriber_id: 'sub-1', state: 'revoking', busy: 1, prefix: P }), null);
  const err = await run(allocatePrefix, INPUT).then(
    () => null,
    (e: ServiceError) => e,
  );
  assert.ok(err, 'the step failed');
  assert.equal([err.code, err.retryable, err.attempts], ['unavailable', true, 3]);
  assert.match(err.message, `lifecycle lc-1 of subscriber sub-1 is revoking`);
  assert.equal(ipam.allocations(), [], 'nothing held');
  await store.close();
});

test('an active or failed holder → still refused for good (the restored database), as before', async () => {
  for (const state of ['active', 'failed'] as const) {
    const { store, ipam, allocatePrefix } = rig();
    await store.lifecycles.save(lifecycleRow({ id: 'lc-1', subscriber_id: 'sub-1', state, prefix: P }), null);
    const err = await run(allocatePrefix, INPUT).then(
      () => null,
      (e: ServiceError) => e,
    );
    assert.equal([err?.code, err?.attempts], ['upstream_rejected', 1], state);
    assert.equal(ipam.allocations(), []);
    await store.close();
  }
});

test.run();
