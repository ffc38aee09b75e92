import type { AllocationAttempt, LifecycleContext, OwnedPrefix } from '../../../machines/types.ts';
import type { ScriptedError } from './model.ts';

// What each invoked step of the lifecycle must be given and what its failure is called, written from
// the lifecycle's contract; expectations.ts checks every step of every path against it.

export const prefixesOf = (...ps: (OwnedPrefix | null)[]) => ps.filter((p): p is OwnedPrefix => p !== null);

/**
 * Idempotency keys: `<lifecycle>:<command>:<generation>`. These strings are a contract with what
 * IPAM and the ACS already hold under them (a restart, an upgrade): they must never change.
 */
export const keyOf = (c: LifecycleContext, command: 'allocate' | 'configurePd' | 'restorePd' | 'removeIpv6') => `${c.lifecycleId}:${command}:${c.generation}`;

/** The allocation each allocating step makes: its key, pool, length, IPAM and generation. */
export const firstAttempt = (c: LifecycleContext): AllocationAttempt => ({ key: keyOf(c, 'allocate'), pool: c.pool, prefixLength: c.prefixLength, generation: c.generation, ipam: c.ipam });
export const updateAttempt = (c: LifecycleContext): AllocationAttempt => ({ key: keyOf(c, 'allocate'), ...c.nextRequest!, generation: c.generation });

// The IPAM contract: these codes say for certain that nothing was allocated. Any other failure of an
// allocation (a timeout, an outage) may have taken a block under the attempt's key.
const DEFINITIVE = ['pool_exhausted', 'not_found', 'validation_error', 'idempotency_mismatch', 'upstream_rejected'];
export const mayHaveAllocated = (e: ScriptedError) => !DEFINITIVE.includes(e.code);

export const byGeneration = (as: AllocationAttempt[]) => [...as].sort((a, b) => a.generation - b.generation);
export const withAttempt = (as: AllocationAttempt[], a: AllocationAttempt) => byGeneration([...as.filter((x) => x.generation !== a.generation), a]);
export const withoutAttempt = (as: AllocationAttempt[], generation: number) => byGeneration(as.filter((x) => x.generation !== generation));

const allocation = (c: LifecycleContext, a: AllocationAttempt) => ({
  key: a.key,
  lifecycleId: c.lifecycleId,
  subscriberId: c.subscriberId,
  pool: a.pool,
  prefixLength: a.prefixLength,
  generation: a.generation,
});
const reply = (prefix: OwnedPrefix | null) => (c: LifecycleContext) => ({ username: c.username, prefix });
const sessions = (purpose: string, prefix: (c: LifecycleContext) => string | null) => (c: LifecycleContext) => ({ username: c.username, purpose, prefix: prefix(c) });
const cpe = (command: 'configurePd' | 'restorePd' | 'removeIpv6', prefix: (c: LifecycleContext) => string | null) => (c: LifecycleContext) => ({
  key: keyOf(c, command),
  cpeId: c.cpeId,
  prefix: prefix(c),
});
// `free`: nobody carries the prefixes any more, so IPAM may reuse them (after the pool's hold-down).
// A revocation's release only quarantines them: RADIUS, sessions and the CPE still do.
const release = (prefixes: (c: LifecycleContext) => OwnedPrefix[], unconfirmed: boolean, free: boolean) => (c: LifecycleContext) => ({
  lifecycleId: c.lifecycleId,
  subscriberId: c.subscriberId,
  prefixes: prefixes(c),
  unconfirmed: unconfirmed ? c.unconfirmed : [],
  free,
});
const current = (c: LifecycleContext) => c.current!.prefix;
// What pending releases (a rolled-back update's blocks IPAM did not take back) still give back: revocation gives it back too.
const giving = (c: LifecycleContext) => c.pending.flatMap((p) => (p.release ? [p.release] : []));
const everything = (c: LifecycleContext) => [...prefixesOf(c.current, c.next, c.retired), ...giving(c).flatMap((g) => g.prefixes)];

type Step = { src: string; input: (c: LifecycleContext) => unknown; failure: (c: LifecycleContext) => string };
const step = (src: string, input: Step['input'], failure: string | Step['failure']): Step => ({ src, input, failure: typeof failure === 'string' ? () => failure : failure });

/** Each invoked step, by the state that runs it: its actor, the input it must get (keys included) and its public failure name. */
export const STEPS: Record<string, Step> = {
  pending: step('allocatePrefix', (c) => allocation(c, firstAttempt(c)), (c) => `${c.ipam}_allocate`),
  'allocated.radius': step('writeRadiusReply', (c) => reply(c.current)(c), 'radius_write_reply'),
  'allocated.cpe': step('configureCpe', cpe('configurePd', current), 'cpe_configure_pd'),
  'active.suspendRadius': step('removeRadiusReply', (c) => reply(c.current)(c), 'radius_remove_reply'),
  // Suspension and revocation withdraw the prefix: their CoA names none (machines/inputs.ts).
  'active.suspendSessions': step('notifySessions', sessions('suspend', () => null), 'radius_sessions'),
  // UPDATE has already counted this attempt: its generation, hence its key, is its own.
  'active.updateAllocate': step('allocatePrefix', (c) => allocation(c, updateAttempt(c)), (c) => `${c.nextRequest!.ipam}_allocate`),
  'active.updateRadius': step('writeRadiusReply', (c) => reply(c.next)(c), 'radius_write_reply'),
  'active.updateSessions': step('notifySessions', sessions('update', (c) => c.next!.prefix), 'radius_sessions'),
  'active.updateCpe': step('configureCpe', cpe('configurePd', (c) => c.next!.prefix), 'cpe_configure_pd'),
  // The retired prefix lives in the IPAM it came from, which may not be the one the lifecycle uses now.
  'active.updateRelease': step('releasePrefix', release((c) => prefixesOf(c.retired), false, true), (c) => `${c.retired!.ipam}_release`),
  // The rollback's compensations put back what the update changed, and give back what it may have taken.
  'active.updateRollback.restoreCpe': step('restoreCpe', cpe('restorePd', current), 'cpe_configure_pd'),
  'active.updateRollback.restoreRadius': step('writeRadiusReply', (c) => reply(c.current)(c), 'radius_write_reply'),
  'active.updateRollback.restoreSessions': step('notifySessions', sessions('update', current), 'radius_sessions'),
  'active.updateRollback.releaseNext': step('releasePrefix', release((c) => prefixesOf(c.next), true, true), (c) => `${(c.next?.ipam ?? c.nextRequest!.ipam)}_release`),
  'suspended.reactivateRadius': step('writeRadiusReply', (c) => reply(c.current)(c), 'radius_write_reply'),
  'suspended.reactivateSessions': step('notifySessions', sessions('reactivate', current), 'radius_sessions'),
  // Revocation gives back everything IPAM may hold for the lifecycle: a half-done update's prefixes, lost allocations.
  'revoking.release': step('releasePrefix', (c) => ({ ...release(everything, true, false)(c), unconfirmed: [...c.unconfirmed, ...giving(c).flatMap((g) => g.unconfirmed)] }), (c) => `${c.current?.ipam ?? c.ipam}_release`),
  'revoking.radius': step('removeRadiusReply', (c) => reply(c.current)(c), 'radius_remove_reply'),
  'revoking.sessions': step('notifySessions', sessions('revoke', () => null), 'radius_sessions'),
  'revoking.cpe': step('removeCpeIpv6', cpe('removeIpv6', (c) => c.current?.prefix ?? null), 'cpe_remove_ipv6'),
  // Only once RADIUS, sessions and the CPE are done does what the release quarantined become reusable.
  'revoking.free': step('freePrefix', release(everything, false, true), (c) => `${c.current?.ipam ?? c.ipam}_free`),
};
