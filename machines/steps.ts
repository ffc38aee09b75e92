import type { Compensation, IpamKind, LifecycleContext, OwnedPrefix, StepId } from './types.ts';

// The one catalogue of the lifecycle's outside steps. The chart, the RETRY transitions, the public
// names in `failure` and `pending`, and the idempotency keys are all read from here.

type Names = Pick<LifecycleContext, 'ipam' | 'current' | 'retired' | 'nextRequest' | 'next'>;

export interface StepSpec {
  /** The name API clients see in `failure.step` and `pending[].step`: IPAM steps are named after their IPAM. */
  publicName: (ctx: Names) => string;
  /** The key segment of the step's outside command (`<lifecycle>:<segment>:<generation>`); null if it sends no key. */
  key: string | null;
  /** The state that invokes the step (its full path): how the audit trail names the step a done or error event ended. */
  state: string;
  /** The state RETRY resumes once the step has failed; null for a step whose failure the machine handles itself. */
  resume: string | null;
  /** Error codes that prove the step did nothing and never will: the lifecycle closes instead of failing. */
  closesOn: readonly string[];
  /**
   * What an update must undo once this step has run, or may have (it failed without a definitive
   * answer): pushed on the saga's stack and undone newest first. A RADIUS change is undone by
   * restoring the reply and then telling the sessions, which may have read the new one.
   */
  compensation: readonly Compensation[];
}

const ipamStep = (verb: 'allocate' | 'release' | 'free', which: (ctx: Names) => IpamKind | undefined) => (ctx: Names) =>
  `${which(ctx) ?? ctx.ipam}_${verb}`;
const named = (name: string) => () => name;

/** A step invoked in `state`; RETRY resumes it there unless `more.resume` says otherwise. */
const spec = (publicName: StepSpec['publicName'], state: string, more: Partial<Omit<StepSpec, 'publicName' | 'state'>> = {}): StepSpec => ({
  publicName,
  state,
  resume: more.resume === undefined ? state : more.resume,
  key: more.key ?? null,
  closesOn: more.closesOn ?? [],
  compensation: more.compensation ?? [],
});

export const STEPS: Record<StepId, StepSpec> = {
  allocate: spec(ipamStep('allocate', () => undefined), 'pending', { key: 'allocate', closesOn: ['pool_exhausted', 'not_found'] }),
  activate_radius: spec(named('radius_write_reply'), 'allocated.radius'),
  activate_cpe: spec(named('cpe_configure_pd'), 'allocated.cpe', { key: 'configurePd' }),
  suspend_radius: spec(named('radius_remove_reply'), 'active.suspendRadius'),
  suspend_sessions: spec(named('radius_sessions'), 'active.suspendSessions'),
  reactivate_radius: spec(named('radius_write_reply'), 'suspended.reactivateRadius'),
  reactivate_sessions: spec(named('radius_sessions'), 'suspended.reactivateSessions'),
  // An update's own steps never fail the lifecycle: a failure rolls the update back (active.updateRollback).
  update_allocate: spec(ipamStep('allocate', (c) => c.nextRequest?.ipam), 'active.updateAllocate', { resume: null, key: 'allocate', compensation: ['releaseNext'] }),
  update_radius: spec(named('radius_write_reply'), 'active.updateRadius', { resume: null, compensation: ['restoreSessions', 'restoreRadius'] }),
  update_sessions: spec(named('radius_sessions'), 'active.updateSessions', { resume: null }),
  update_cpe: spec(named('cpe_configure_pd'), 'active.updateCpe', { resume: null, key: 'configurePd', compensation: ['restoreCpe'] }),
  update_release: spec(ipamStep('release', (c) => c.retired?.ipam), 'active.updateRelease'),
  rollback_cpe: spec(named('cpe_configure_pd'), 'active.updateRollback.restoreCpe', { key: 'restorePd' }),
  rollback_radius: spec(named('radius_write_reply'), 'active.updateRollback.restoreRadius'),
  rollback_sessions: spec(named('radius_sessions'), 'active.updateRollback.restoreSessions'),
  rollback_release: spec(ipamStep('release', (c) => c.next?.ipam ?? c.nextRequest?.ipam), 'active.updateRollback.releaseNext'),
  revoke_release: spec(ipamStep('release', (c) => c.current?.ipam), 'revoking.release'),
  revoke_radius: spec(named('radius_remove_reply'), 'revoking.radius'),
  revoke_sessions: spec(named('radius_sessions'), 'revoking.sessions'),
  revoke_cpe: spec(named('cpe_remove_ipv6'), 'revoking.cpe', { key: 'removeIpv6' }),
  // The released prefix stays quarantined until RADIUS, the sessions and the CPE no longer carry it.
  revoke_free: spec(ipamStep('free', (c) => c.current?.ipam), 'revoking.free'),
};

const BY_STATE = new Map((Object.entries(STEPS) as [StepId, StepSpec][]).map(([step, s]) => [s.state, step]));

/** The step the state at `path` invokes, if it invokes one. */
export function stepAt(path: string | null): StepId | undefined {
  return path === null ? undefined : BY_STATE.get(path);
}

/** The steps a failed lifecycle can resume, with the state each resumes. */
export const RESUMABLE = (Object.entries(STEPS) as [StepId, StepSpec][]).flatMap(([step, s]) => (s.resume ? [{ step, resume: s.resume }] : []));

/** Every public step name the steps can have with these IPAMs (the metrics start their series from it). */
export function publicStepNames(ipams: readonly IpamKind[]): string[] {
  const names = ipams.flatMap((ipam) => {
    const on = { ipam } as OwnedPrefix;
    const ctx: Names = { ipam, current: on, retired: on, next: on, nextRequest: { pool: '', prefixLength: 0, ipam } };
    return Object.values(STEPS).map((s) => s.publicName(ctx));
  });
  return [...new Set(names)];
}

/** Idempotency keys: the same lifecycle, step and generation always give the same key. */
export function stepKey(lifecycleId: string, step: StepId, generation: number): string {
  const segment = STEPS[step].key;
  if (segment === null) throw new Error(`step ${step} sends no idempotency key`);
  return `${lifecycleId}:${segment}:${generation}`;
}

/** Codes that say for certain that an outside command did nothing: there is nothing to undo. */
const DEFINITIVE = new Set(['pool_exhausted', 'not_found', 'validation_error', 'idempotency_mismatch', 'upstream_rejected']);

/** A step that failed without a definitive answer may have had its effect: its compensation must run. */
export function isUnknownOutcome(error: unknown): boolean {
  const code = (error as { code?: unknown } | null)?.code;
  return !(typeof code === 'string' && DEFINITIVE.has(code));
}
