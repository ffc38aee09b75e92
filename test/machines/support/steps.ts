import type { AllocationAttempt, HeldPrefix, LifecycleContext } from '../../../machines/types.ts';
import type { ScriptedError } from './model.ts';

// What each invoked step of the lifecycle must be given and what its failure is called, written from
// the lifecycle's contract; expectations.ts checks every step of every path against it.

export const prefixesOf = (...ps: (HeldPrefix | null)[]) => ps.filter((p): p is HeldPrefix => p !== null);

/** The allocation each allocating step makes: its pool, length, IPAM and key (the generation). */
export const firstAttempt = (c: LifecycleContext): AllocationAttempt => ({ pool: c.pool, prefixLength: c.prefixLength, generation: c.generation, ipam: c.ipam });
export const updateAttempt = (c: LifecycleContext): AllocationAttempt => ({ ...c.nextRequest!, generation: c.generation });

// The IPAM contract: these codes say for certain that nothing was allocated. Any other failure of an
// allocation (a timeout, an outage) may have taken a block under the attempt's key.
const DEFINITIVE = ['pool_exhausted', 'not_found', 'validation_error', 'idempotency_mismatch', 'upstream_rejected'];
export const mayHaveAllocated = (e: ScriptedError) => !DEFINITIVE.includes(e.code);

export const byGeneration = (as: AllocationAttempt[]) => [...as].sort((a, b) => a.generation - b.generation);
export const withAttempt = (as: AllocationAttempt[], a: AllocationAttempt) => byGeneration([...as.filter((x) => x.generation !== a.generation), a]);
export const withoutAttempt = (as: AllocationAttempt[], generation: number) => byGeneration(as.filter((x) => x.generation !== generation));

/** Each invoked step: its actor, the input it must get (idempotency key material included) and its public failure name. */
export const STEPS: Record<string, { src: string; input: (c: LifecycleContext) => unknown; failure: (c: LifecycleContext) => string }> = {
  pending: {
    src: 'allocatePrefix',
    input: (c) => ({ lifecycleId: c.lifecycleId, subscriberId: c.subscriberId, pool: c.pool, prefixLength: c.prefixLength, generation: c.generation }),
    failure: (c) => `${c.ipam}_allocate`,
  },
  'allocated.radius': { src: 'writeRadiusReply', input: (c) => ({ username: c.username, prefix: c.held }), failure: () => 'radius_write_reply' },
  'allocated.cpe': {
    src: 'configureCpe',
    input: (c) => ({ lifecycleId: c.lifecycleId, cpeId: c.cpeId, prefix: c.held!.prefix, generation: c.generation }),
    failure: () => 'cpe_configure_pd',
  },
  'active.suspendRadius': { src: 'removeRadiusReply', input: (c) => ({ username: c.username, prefix: c.held }), failure: () => 'radius_remove_reply' },
  'active.suspendSessions': {
    src: 'notifySessions',
    input: (c) => ({ username: c.username, purpose: 'suspend', prefix: c.held!.prefix }),
    failure: () => 'radius_sessions',
  },
  'active.updateAllocate': {
    src: 'allocatePrefix',
    // UPDATE has already counted this attempt: its generation, hence its key, is its own.
    input: (c) => ({ lifecycleId: c.lifecycleId, subscriberId: c.subscriberId, pool: c.nextRequest!.pool, prefixLength: c.nextRequest!.prefixLength, generation: c.generation }),
    failure: (c) => `${c.nextRequest!.ipam}_allocate`,
  },
  'active.updateRadius': { src: 'writeRadiusReply', input: (c) => ({ username: c.username, prefix: c.next }), failure: () => 'radius_write_reply' },
  'active.updateSessions': {
    src: 'notifySessions',
    input: (c) => ({ username: c.username, purpose: 'update', prefix: c.next!.prefix }),
    failure: () => 'radius_sessions',
  },
  'active.updateCpe': {
    src: 'configureCpe',
    input: (c) => ({ lifecycleId: c.lifecycleId, cpeId: c.cpeId, prefix: c.next!.prefix, generation: c.generation }),
    failure: () => 'cpe_configure_pd',
  },
  // The retired prefix lives in the IPAM it came from, which may not be the one the lifecycle uses now.
  'active.updateRelease': {
    src: 'releasePrefix',
    input: (c) => ({ lifecycleId: c.lifecycleId, subscriberId: c.subscriberId, prefixes: prefixesOf(c.retired), unconfirmed: [] }),
    failure: (c) => `${c.retired!.ipam}_release`,
  },
  // A rollback also gives back what an allocation without an answer may have taken, and puts the CPE back.
  'active.updateRollback': {
    src: 'rollbackUpdate',
    input: (c) => ({
      lifecycleId: c.lifecycleId,
      subscriberId: c.subscriberId,
      username: c.username,
      cpeId: c.cpeId,
      generation: c.generation,
      restore: c.held,
      release: c.next,
      unconfirmed: c.unconfirmed,
    }),
    failure: () => 'update_rollback',
  },
  'suspended.reactivateRadius': { src: 'writeRadiusReply', input: (c) => ({ username: c.username, prefix: c.held }), failure: () => 'radius_write_reply' },
  'suspended.reactivateSessions': {
    src: 'notifySessions',
    input: (c) => ({ username: c.username, purpose: 'reactivate', prefix: c.held!.prefix }),
    failure: () => 'radius_sessions',
  },
  // Revocation gives back everything IPAM may hold for the lifecycle: a half-done update's prefixes, lost allocations.
  'revoking.release': {
    src: 'releasePrefix',
    input: (c) => ({ lifecycleId: c.lifecycleId, subscriberId: c.subscriberId, prefixes: prefixesOf(c.held, c.next, c.retired), unconfirmed: c.unconfirmed }),
    failure: (c) => `${c.held?.ipam ?? c.ipam}_release`,
  },
  'revoking.radius': { src: 'removeRadiusReply', input: (c) => ({ username: c.username, prefix: c.held }), failure: () => 'radius_remove_reply' },
  'revoking.sessions': {
    src: 'notifySessions',
    input: (c) => ({ username: c.username, purpose: 'revoke', prefix: c.held?.prefix ?? null }),
    failure: () => 'radius_sessions',
  },
  'revoking.cpe': {
    src: 'removeCpeIpv6',
    input: (c) => ({ lifecycleId: c.lifecycleId, cpeId: c.cpeId, prefix: c.held?.prefix ?? null, generation: c.generation }),
    failure: () => 'cpe_remove_ipv6',
  },
};
