// The scripted scenario of the crash test, shared by the child that runs it and the parent that
// judges what a restart left behind. Phases run one after the other; the operations of a phase run
// concurrently, one per subscriber, so a kill usually finds several lifecycles mid-step.

/** The embedded pool: 256 /56 blocks, plenty for the scenario and for first fit to reuse freed ones. */
export const CRASH_POOL = { name: 'crash', prefix: '2001:db8::/48', prefix_length: 56 } as const;

export type CrashOp = 'allocate' | 'activate' | 'suspend' | 'reactivate' | 'update' | 'revoke';

export interface CrashPhase {
  name: string;
  ops: ReadonlyArray<readonly [subscriber: string, op: CrashOp]>;
}

export const CRASH_PHASES: readonly CrashPhase[] = [
  { name: 'allocate', ops: ['s1', 's2', 's3', 's4', 's5', 's6'].map((s) => [s, 'allocate'] as const) },
  { name: 'activate', ops: ['s1', 's2', 's3', 's4', 's5'].map((s) => [s, 'activate'] as const) },
  // s6 was never activated: its revocation has no RADIUS row and no CPE to clean up.
  { name: 'revoke', ops: [['s2', 'revoke'], ['s4', 'revoke'], ['s6', 'revoke']] },
  // First fit hands s1 the lowest free block, which the revocations just gave back.
  { name: 'update', ops: [['s1', 'update']] },
  { name: 'suspend', ops: [['s3', 'suspend'], ['s5', 'suspend']] },
  { name: 'reactivate', ops: [['s5', 'reactivate']] },
  { name: 'allocate-again', ops: [['s7', 'allocate'], ['s8', 'allocate']] },
];

/**
 * New subscribers the recovery run serves. `late1` is allocated before `start()`: the hardest order
 * for a release that committed unrecorded, whose block is handed out again before the release is
 * repeated (the HTTP API answers 503 until `start()`, but a repeated step that first fails
 * transiently meets the same order later). `late2` is allocated and activated just after
 * `start()`, concurrently with the resumed steps, as the first request after /readyz turns 200.
 */
export const PRE_START = 'late1';
export const POST_START = 'late2';
const LATE_OPS: Record<string, CrashOp[]> = { [PRE_START]: [], [POST_START]: ['activate'] };

export const usernameOf = (subscriber: string) => `user-${subscriber}`;
export const cpeIdOf = (subscriber: string) => `000000-crash-${subscriber}`;

/** The audit type each operation records when the lifecycle accepts it. */
export const AUDIT_TYPE: Record<Exclude<CrashOp, 'allocate'>, string> = {
  activate: 'ACTIVATE',
  suspend: 'SUSPEND',
  reactivate: 'REACTIVATE',
  update: 'UPDATE',
  revoke: 'REVOKE',
};

/** Where a lifecycle must come to rest once its last accepted operation has run to the end. */
export const SETTLED_AFTER: Record<CrashOp, string> = {
  allocate: 'allocated',
  activate: 'active',
  suspend: 'suspended',
  reactivate: 'active',
  update: 'active',
  revoke: 'revoked',
};

/** A subscriber's planned operations after its allocation, in order. */
export function plannedOps(subscriber: string): CrashOp[] {
  const late = LATE_OPS[subscriber];
  if (late) return late;
  return CRASH_PHASES.flatMap((p) => p.ops.filter(([s]) => s === subscriber).map(([, op]) => op)).filter((op) => op !== 'allocate');
}

export const SCENARIO_SUBSCRIBERS = [...new Set(CRASH_PHASES.flatMap((p) => p.ops.map(([s]) => s)))];
