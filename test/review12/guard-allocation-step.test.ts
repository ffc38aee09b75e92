// Review 12 (guard12): the allocation step's guard against a prefix another live lifecycle holds in
// the store (runtime/allocation-guard.ts), on the fake IPAM: what it gives back, how it fails, that a
// re-run after a restart fails alike holding nothing, and that the embedded IPAM is not checked.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import pino from 'pino';
import { createActor, toPromise, type AnyActorLogic } from 'xstate';
import { createStepActors, type StepOptions } from '../../runtime/step-actors.ts';
import { createFakeIpam } from '../../services/ipam/fake.ts';
import type { ServiceError } from '../../services/errors.ts';

const POOL = { name: 'p', prefix: '2001:db8:100::/48', prefixLength: 56 };
const INPUT = { key: 'lc-2:allocate:0', lifecycleId: 'lc-2', subscriberId: 'sub-2', pool: 'p', prefixLength: 56, generation: 0 };
const HELD = '2001:db8:100::/56';

function actors(kind: string, holderOf: StepOptions['prefixHolder']) {
  const ipam = createFakeIpam([POOL]);
  const made = createStepActors(
    { ipam, replies: null, sessions: null, cpe: null },
    {
      retry: { attempts: 2, baseMs: 0, maxMs: 0, retryAfterMaxMs: 0 },
      sessionAction: { suspend: 'disconnect', reactivate: 'coa', update: 'coa', revoke: 'disconnect' },
      log: pino({ level: 'silent' }),
      ipamKind: () => kind,
      prefixHolder: holderOf,
    },
  );
  return { ipam, allocatePrefix: made.allocatePrefix };
}

const run = (logic: AnyActorLogic, input: unknown) => toPromise(createActor(logic, { input }).start());
const failure = async (p: Promise<unknown>) => {
  try {
    await p;
  } catch (err) {
    return err as ServiceError;
  }
  throw new Error('the step did not fail');
};

const test = suite('review12: allocatePrefix refuses a prefix another live lifecycle holds');

test('allocatePrefix(held) → gives it back, fails for good naming the prefix, the holder and the way out', async () => {
  const asked: [string, string][] = [];
  const { ipam, allocatePrefix } = actors('netbox', async (prefix, lifecycleId) => {
    asked.push([prefix, lifecycleId]);
    return prefix === HELD ? { id: 'lc-1', subscriber_id: 'sub-1', state: 'active' } : null;
  });
  const err = await failure(run(allocatePrefix, INPUT));
  assert.equal(asked, [[HELD, 'lc-2']], 'asked once, for the answer, excepting its own lifecycle');
  assert.is(err.code, 'upstream_rejected');
  assert.is(err.retryable, false);
  assert.is(err.attempts, 1, 'not retried');
  assert.match(err.message, `NetBox answered ${HELD}, which lifecycle lc-1 of subscriber sub-1 holds in the store`);
  assert.match(err.message, /database may be older than IPAM.*reconciliation/);
  assert.equal(ipam.allocations(), [], 'nothing held');
  assert.equal(ipam.quarantined(), [], 'freed, not quarantined');

  // Re-run under the same key (a restart mid-step): the same refusal, still nothing held.
  assert.is((await failure(run(allocatePrefix, INPUT))).code, 'upstream_rejected');
  assert.equal(ipam.allocations(), []);
});

test('allocatePrefix(free) → taken: the guard lets a prefix no other lifecycle holds through', async () => {
  const { ipam, allocatePrefix } = actors('netbox', async () => null);
  const out = (await run(allocatePrefix, INPUT)) as { result: { prefix: string } };
  assert.is(out.result.prefix, HELD);
  assert.equal(ipam.allocations().map((a) => a.prefix), [HELD]);
});

test('allocatePrefix with the store unreadable → retried as unavailable, never the raw driver error', async () => {
  let calls = 0;
  const { allocatePrefix } = actors('netbox', async () => {
    calls += 1;
    throw new Error('SQLITE_BUSY: database is locked');
  });
  const err = await failure(run(allocatePrefix, INPUT));
  assert.is(err.code, 'unavailable');
  assert.is(calls, 2, 'each attempt asks again');
});

test('allocatePrefix on the embedded IPAM → not checked: its blocks are in the store itself', async () => {
  let calls = 0;
  const { allocatePrefix } = actors('embedded', async () => {
    calls += 1;
    return { id: 'lc-1', subscriber_id: 'sub-1', state: 'active' };
  });
  await run(allocatePrefix, INPUT);
  assert.is(calls, 0);
});

test.run();
