import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import pino from 'pino';
import { createActor, toPromise, type AnyActorLogic } from 'xstate';
import type { AllocationAttempt, OwnedPrefix } from '../../machines/types.ts';
import { ServiceError } from '../../services/errors.ts';
import type { CpePort, CpeResult } from '../../services/genieacs/port.ts';
import type { AllocateCommand, IpamPort, KeyLookup, ReleaseCommand } from '../../services/ipam/port.ts';
import { createStepActors, type StepOptions, type StepPorts } from '../../runtime/step-actors.ts';
import { createFakeCpe } from '../../services/genieacs/fake.ts';
import { FakeRadiusReplyStore } from '../../services/radius/fake.ts';

// The step actors are the runtime side of the machine's invocations: what they send through the
// ports, what they hand back to the machine, and what they turn a failure into.

const AT = new Date('2031-02-03T04:05:06.000Z');
const log = pino({ level: 'silent' });

/** An IPAM that records every command, answering allocations from `holds` (key → prefix). */
function recordingIpam(holds: Record<string, string> = {}) {
  const allocated: AllocateCommand[] = [];
  const released: ReleaseCommand[] = [];
  const lookedUp: KeyLookup[] = [];
  const freed: ReleaseCommand[] = [];
  const ipam = {
    async allocatedUnder(cmd: KeyLookup) {
      lookedUp.push(cmd);
      const prefix = holds[cmd.key];
      return prefix ? [{ prefix, prefixLength: 56, netboxPrefixId: null }] : [];
    },
    async allocate(cmd: AllocateCommand) {
      allocated.push(cmd);
      const prefix = holds[cmd.key];
      if (!prefix) throw new ServiceError('pool_exhausted', 'no free prefix');
      return { prefix, prefixLength: cmd.prefixLength, netboxPrefixId: null };
    },
    async release(cmd: ReleaseCommand) {
      released.push(cmd);
    },
    async free(cmd: ReleaseCommand) {
      freed.push(cmd);
    },
  };
  return { ipam: ipam as unknown as IpamPort, allocated, released, lookedUp, freed };
}

function cpeAnswering(answer: () => Promise<CpeResult>): CpePort & { keys: string[] } {
  const keys: string[] = [];
  return {
    keys,
    configurePd: (cmd) => (keys.push(cmd.key), answer()),
    removeIpv6: (cmd) => (keys.push(cmd.key), answer()),
  };
}

function actorsWith(ports: Partial<StepPorts>, more: Partial<StepOptions> = {}) {
  const all: StepPorts = { ipam: recordingIpam().ipam, replies: null, sessions: null, cpe: null, ...ports };
  return createStepActors(all, {
    retry: { attempts: 2, baseMs: 0, maxMs: 0, retryAfterMaxMs: 0 },
    sessionAction: { suspend: 'disconnect', reactivate: 'coa', update: 'coa', revoke: 'disconnect' },
    log,
    now: () => AT,
    ...more,
  });
}

const run = <T>(logic: AnyActorLogic, input: unknown): Promise<T> => toPromise(createActor(logic, { input }).start()) as Promise<T>;
const failure = async (p: Promise<unknown>) => {
  try {
    await p;
  } catch (err) {
    return err as ServiceError & { at?: string };
  }
  throw new Error('the step did not fail');
};

const test = suite('step actors');

test('allocatePrefix sends the key the machine derived and resolves { at, result } with the runtime clock', async () => {
  const { ipam, allocated } = recordingIpam({ 'lc-1:allocate:0': '2001:db8:100::/56' });
  const out = await run(actorsWith({ ipam }).allocatePrefix, { key: 'lc-1:allocate:0', lifecycleId: 'lc-1', subscriberId: 'sub-1', pool: 'p', prefixLength: 56, generation: 0 });
  assert.equal(out, { at: AT.toISOString(), result: { prefix: '2001:db8:100::/56', prefixLength: 56, netboxPrefixId: null } });
  assert.equal(allocated.map((c) => c.key), ['lc-1:allocate:0']);
});

test('a step that gives up rejects with the port error, its attempts and the time it gave up', async () => {
  let calls = 0;
  const cpe = cpeAnswering(async () => {
    calls++;
    throw new ServiceError('upstream_unavailable', 'ACS down', { retryable: true });
  });
  const err = await failure(run(actorsWith({ cpe }).configureCpe, { key: 'lc-1:configurePd:0', cpeId: 'CPE-1', prefix: '2001:db8::/56' }));
  assert.equal([err.code, err.message, err.attempts, err.at, calls], ['upstream_unavailable', 'ACS down', 2, AT.toISOString(), 2]);
});

test('a bug inside a port is reported as internal without its text, which stays in the log', async () => {
  const cpe = cpeAnswering(async () => {
    throw new TypeError('cannot read /etc/secret-path');
  });
  const err = await failure(run(actorsWith({ cpe }).configureCpe, { key: 'k', cpeId: 'CPE-1', prefix: '2001:db8::/56' }));
  assert.is(err.code, 'internal');
  assert.not.match(err.message, 'secret-path');
  assert.is(err.attempts, 1, 'a bug is not retried');
});

test('a CPE the ACS has never seen is queued, not failed', async () => {
  const cpe = cpeAnswering(async () => {
    throw new ServiceError('not_found', 'no such device');
  });
  const out = await run(actorsWith({ cpe }).configureCpe, { key: 'k', cpeId: 'CPE-1', prefix: '2001:db8::/56' });
  assert.equal(out, { at: AT.toISOString(), result: { status: 'queued', taskId: null } });
});

test('removeCpeIpv6 and restoreCpe keep a failing ACS as a pending step; configureCpe fails', async () => {
  const down = () => cpeAnswering(async () => Promise.reject(new ServiceError('upstream_unavailable', 'ACS 500', { retryable: true })));
  const input = { key: 'lc-1:restorePd:1', cpeId: 'CPE-1', prefix: '2001:db8::/56' };
  for (const name of ['removeCpeIpv6', 'restoreCpe'] as const) {
    const cpe = down();
    const out = await run(actorsWith({ cpe })[name], input);
    assert.equal(out, { at: AT.toISOString(), result: { status: 'queued', taskId: null } }, name);
    assert.equal(cpe.keys, [input.key, input.key], `${name} retried under the same key`);
  }
  const err = await failure(run(actorsWith({ cpe: down() }).configureCpe, input));
  assert.is(err.code, 'upstream_unavailable');
});

test('each step that ends reports its public name, outcome and duration: ok, refused (definitive), error, queued', async () => {
  const seen: [string, string][] = [];
  const more: Partial<StepOptions> = { onStep: (step, outcome, seconds) => (assert.ok(seconds >= 0), seen.push([step, outcome])), ipamKind: () => 'embedded' };
  const { ipam } = recordingIpam({ 'lc-1:allocate:0': '2001:db8:100::/56' });
  const actors = actorsWith({ ipam }, more);
  const alloc = { lifecycleId: 'lc-1', subscriberId: 'sub-1', pool: 'p', prefixLength: 56, generation: 0 };
  await run(actors.allocatePrefix, { ...alloc, key: 'lc-1:allocate:0' });
  await failure(run(actors.allocatePrefix, { ...alloc, key: 'lc-1:allocate:9' }));
  const prefix: OwnedPrefix = { prefix: '2001:db8::/56', prefixLength: 56, netboxPrefixId: null, pool: 'p', generation: 0, ipam: 'netbox' };
  await run(actors.releasePrefix, { lifecycleId: 'lc-1', subscriberId: 'sub-1', prefixes: [prefix], unconfirmed: [], free: false });
  const down = cpeAnswering(async () => Promise.reject(new ServiceError('upstream_unavailable', 'ACS 500', { retryable: true })));
  const cpeInput = { key: 'k', cpeId: 'CPE-1', prefix: '2001:db8::/56' };
  await failure(run(actorsWith({ cpe: down }, more).configureCpe, cpeInput));
  await run(actorsWith({ cpe: down }, more).removeCpeIpv6, cpeInput);
  await run(actorsWith({ cpe: cpeAnswering(async () => ({ status: 'done' })) }, more).configureCpe, cpeInput);
  assert.equal(seen, [
    ['embedded_allocate', 'ok'],
    ['embedded_allocate', 'refused'],
    ['netbox_release', 'ok'],
    ['cpe_configure_pd', 'error'],
    ['cpe_remove_ipv6', 'queued'],
    ['cpe_configure_pd', 'ok'],
  ]);
});

test('steps without a configured peer, or with nothing for it to act on, do nothing and say they were skipped', async () => {
  const actors = actorsWith({});
  const prefix: OwnedPrefix = { prefix: '2001:db8::/56', prefixLength: 56, netboxPrefixId: null, pool: 'p', generation: 0, ipam: 'fake' };
  const at = AT.toISOString();
  assert.equal(await run(actors.writeRadiusReply, { username: 'alice', prefix }), { at, result: undefined, skipped: 'not_configured' });
  assert.equal(await run(actors.removeRadiusReply, { username: 'alice', prefix }), { at, result: undefined, skipped: 'not_configured' });
  assert.equal(await run(actors.notifySessions, { username: 'alice', purpose: 'revoke', prefix: prefix.prefix }), { at, result: [], skipped: 'not_configured' });
  assert.equal(await run(actors.removeCpeIpv6, { key: 'k', cpeId: 'CPE-1', prefix: null }), { at, result: { status: 'done' }, skipped: 'not_configured' });
  // Peers configured, but a lifecycle never activated has no username; one activated without a CPE has no cpe_id.
  const { port: cpe } = createFakeCpe();
  const configured = actorsWith({ replies: new FakeRadiusReplyStore(), cpe });
  assert.equal(await run(configured.removeRadiusReply, { username: null, prefix }), { at, result: undefined, skipped: 'no_username' });
  assert.equal(await run(configured.configureCpe, { key: 'k', cpeId: null, prefix: prefix.prefix }), { at, result: { status: 'done' }, skipped: 'no_cpe_id' });
});

test('a CPE command kept as a pending step carries when the scheduler first asks again', async () => {
  const fake = createFakeCpe();
  fake.setOnline('CPE-1', false);
  const actors = createStepActors(
    { ipam: recordingIpam().ipam, replies: null, sessions: null, cpe: fake.port },
    {
      retry: { attempts: 1, baseMs: 0, maxMs: 0, retryAfterMaxMs: 0 },
      sessionAction: { suspend: 'disconnect', reactivate: 'coa', update: 'coa', revoke: 'disconnect' },
      log,
      now: () => AT,
      pendingBackoff: { baseMs: 10_000, maxMs: 60_000 },
    },
  );
  const out = await run<{ result: { status: string }; retryAt?: string }>(actors.configureCpe, { key: 'k', cpeId: 'CPE-1', prefix: '2001:db8::/56' });
  assert.is(out.result.status, 'queued');
  const wait = Date.parse(out.retryAt ?? '') - AT.getTime();
  assert.ok(wait >= 5_000 && wait <= 10_000, `first retry ${wait} ms after the step`);
});

test('releasePrefix gives back what it holds and what a lost allocation took under its key, once each', async () => {
  const lost: AllocationAttempt = { key: 'lc-1:allocate:1', pool: 'p', prefixLength: 56, generation: 1, ipam: 'fake' };
  const refused: AllocationAttempt = { ...lost, key: 'lc-1:allocate:2', generation: 2 };
  const { ipam, allocated, released, lookedUp, freed } = recordingIpam({ 'lc-1:allocate:1': '2001:db8:200::/56' });
  const current: OwnedPrefix = { prefix: '2001:db8:100::/56', prefixLength: 56, netboxPrefixId: 7, pool: 'p', generation: 0, ipam: 'fake' };
  await run(actorsWith({ ipam }).releasePrefix, { lifecycleId: 'lc-1', subscriberId: 'sub-1', prefixes: [current], unconfirmed: [lost, refused], free: false });
  assert.equal(lookedUp.map((c) => c.key), ['lc-1:allocate:1', 'lc-1:allocate:2'], 'each lost attempt is looked up by its own key');
  assert.equal(allocated, [], 'and never allocated again');
  // The revocation's release quarantines what the lifecycle used; a lost allocation's block nobody ever carried is freed at once.
  assert.equal(released.map((r) => [r.prefix, r.netboxPrefixId, r.subscriberId]), [['2001:db8:100::/56', 7, 'sub-1']]);
  assert.equal(freed.map((r) => [r.prefix, r.netboxPrefixId]), [['2001:db8:200::/56', null]]);
});

test('releasePrefix with free frees at once; freePrefix frees what the release quarantined', async () => {
  const { ipam, released, freed } = recordingIpam();
  const current: OwnedPrefix = { prefix: '2001:db8:100::/56', prefixLength: 56, netboxPrefixId: 7, pool: 'p', generation: 0, ipam: 'fake' };
  const input = { lifecycleId: 'lc-1', subscriberId: 'sub-1', prefixes: [current], unconfirmed: [] };
  await run(actorsWith({ ipam }).releasePrefix, { ...input, free: true });
  await run(actorsWith({ ipam }).freePrefix, { ...input, free: true });
  assert.equal([released.length, freed.map((r) => r.prefix)], [0, ['2001:db8:100::/56', '2001:db8:100::/56']]);
});

test.run();
