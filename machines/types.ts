import type { Allocation } from '../services/ipam/port.ts';
import type { SessionOutcome } from '../services/radius/port.ts';
import type { CpeResult } from '../services/genieacs/port.ts';

/** The public states of a lifecycle (the machine's top-level states). */
export const LIFECYCLE_STATES = ['pending', 'allocated', 'active', 'suspended', 'revoking', 'revoked', 'failed'] as const;
export type LifecycleState = (typeof LIFECYCLE_STATES)[number];

/** Internal step ids: where a failed lifecycle resumes on RETRY. */
export type StepId =
  | 'allocate'
  | 'activate_radius'
  | 'activate_cpe'
  | 'suspend_radius'
  | 'suspend_sessions'
  | 'reactivate_radius'
  | 'reactivate_sessions'
  | 'update_allocate'
  | 'update_radius'
  | 'update_sessions'
  | 'update_cpe'
  | 'update_release'
  | 'rollback_cpe'
  | 'rollback_radius'
  | 'rollback_sessions'
  | 'rollback_release'
  | 'revoke_release'
  | 'revoke_radius'
  | 'revoke_sessions'
  | 'revoke_cpe'
  | 'revoke_free';

/** Why a session notification is sent: the runtime picks Disconnect or CoA from it. */
export type SessionPurpose = 'suspend' | 'reactivate' | 'update' | 'revoke';

export type IpamKind = 'embedded' | 'netbox' | 'fake';

/** A prefix the lifecycle owns in IPAM, with the generation whose key allocated it. */
export interface OwnedPrefix extends Allocation {
  pool: string;
  generation: number;
  /** The IPAM that holds it (a pool may move from one IPAM to another between updates). */
  ipam: IpamKind;
}

/** An allocation whose outcome is unknown (the answer was lost): IPAM may hold a prefix under its key. */
export interface AllocationAttempt {
  /** The idempotency key the allocation was sent with: allocating again under it returns what IPAM holds. */
  key: string;
  pool: string;
  prefixLength: number;
  generation: number;
  ipam: IpamKind;
}

export interface Failure {
  /** Public name of the step, e.g. `netbox_release`, `radius_remove_reply`. */
  step: string;
  code: string;
  message: string;
  attempts: number;
  at: string;
}

/** What a step actor rejects with: the JSON-safe fields of the runtime's `ServiceError`, stamped with the runtime's clock. */
export interface StepError {
  code: string;
  message: string;
  attempts?: number;
  /** When the step gave up (the machine has no clock of its own). */
  at?: string;
}

/** What every step actor resolves with: its result and when it finished (the machine has no clock of its own). */
export interface Stamped<T> {
  at: string;
  result: T;
  /** Set when the step had nothing to talk to (no RADIUS database, no ACS, no CPE id): why it did nothing. */
  skipped?: string;
  /** A CPE command kept as a pending step: when the pending-work scheduler first asks again. */
  retryAt?: string;
}

/** Undo work an update did, newest first: see `active.updateRollback`. */
export type Compensation = 'restoreCpe' | 'restoreRadius' | 'restoreSessions' | 'releaseNext';

/** Outside work accepted but not confirmed yet (an offline CPE, a rolled-back update's block IPAM did not take back). */
export interface PendingStep {
  step: 'cpe_configure_pd' | 'cpe_remove_ipv6' | `${IpamKind}_release`;
  /** The idempotency key of the command that queued it, reused by every retry. */
  key: string;
  /** The generation of the step that queued it. */
  generation: number;
  attempts: number;
  next_attempt_at: string | null;
  task_id: string | null;
  /** Of an IPAM release: what it gives back (freed at once: nothing carries it) once IPAM answers again. */
  release?: { prefixes: OwnedPrefix[]; unconfirmed: AllocationAttempt[] };
  /** Why the last attempt did not go through (a peer's error; none for a CPE merely offline). */
  last_error?: PendingError;
}

/** A pending step's last failed attempt, as the API shows it. */
export interface PendingError {
  code: string;
  message: string;
  at: string;
}

export interface LifecycleInput {
  lifecycleId: string;
  subscriberId: string;
  pool: string;
  prefixLength: number;
  ipam: IpamKind;
}

export interface LifecycleContext extends LifecycleInput {
  /** The prefix the subscriber uses; null until allocated. */
  current: OwnedPrefix | null;
  /** Increments with every allocation attempt (first allocation 0, each UPDATE +1); part of the idempotency keys. */
  generation: number;
  /** Allocations that may have happened without our knowing: given back on revoke and rollback. */
  unconfirmed: AllocationAttempt[];
  /** The target of an update in progress. */
  next: OwnedPrefix | null;
  nextRequest: { pool: string; prefixLength: number; ipam: IpamKind } | null;
  /** The previous prefix of an update, until IPAM has it back. */
  retired: OwnedPrefix | null;
  /** What the update in progress has done that a failure must undo, oldest first (a saga's compensation stack). */
  compensations: Compensation[];
  username: string | null;
  cpeId: string | null;
  allocatedAt: string | null;
  /** The first activation; a resume or an update leaves it. */
  activatedAt: string | null;
  /** The last resume (REACTIVATE done); null until the first. Absent from snapshots written before it existed. */
  reactivatedAt?: string | null;
  /** The last suspension; it stays after a resume. */
  suspendedAt: string | null;
  revokedAt: string | null;
  failure: Failure | null;
  failedAt: StepId | null;
  /** The last error that did not leave the lifecycle `failed`: a rolled-back update, a refused allocation. */
  lastError: Failure | null;
  pending: PendingStep[];
  reason: string | null;
}

/** Events the lifecycle accepts. */
export type LifecycleEvent =
  /** Write RADIUS attributes and configure the CPE. */
  | { type: 'ACTIVATE'; username: string; cpeId: string | null }
  /** Withdraw IPv6 service; the prefix stays reserved. */
  | { type: 'SUSPEND'; reason: string | null }
  /** Restore what SUSPEND withdrew. */
  | { type: 'REACTIVATE' }
  /** Move an active subscriber to a new prefix. */
  | { type: 'UPDATE'; pool: string; prefixLength: number; ipam: IpamKind }
  /** Give everything back. */
  | { type: 'REVOKE'; reason: string | null }
  /** Resume a failed lifecycle at its failed step. */
  | { type: 'RETRY' }
  /** A pending CPE step was confirmed. */
  | {
      type: 'PENDING_RESOLVED';
      step: PendingStep['step'];
      /** Another lifecycle has the CPE now: the step is moot. */
      supersededBy?: string;
      /** `unknown_to_acs`: a removal for a device the ACS no longer knows (nothing to remove). */
      reason?: 'unknown_to_acs';
      /** The generation of the step that was confirmed: a step a later rollback has joined since (a newer generation) stays. */
      generation?: number;
    }
  /** A pending CPE step is still queued; try again later. */
  | { type: 'PENDING_DEFERRED'; step: PendingStep['step']; next_attempt_at: string; error?: PendingError }
  /** Adoption of a prefix already in the field: straight to `state`, no outside step (services/adoption/). */
  | ImportEvent;

/** What adoption found in the field: IPAM already holds `prefix` for the lifecycle (adopted before the event). */
export interface ImportEvent {
  type: 'IMPORT';
  state: ImportedState;
  prefix: Allocation;
  pool: string;
  ipam: IpamKind;
  username: string | null;
  cpeId: string | null;
  /** When the import ran (the machine has no clock of its own). */
  at: string;
  /** The sources that named the prefix, e.g. `netbox`, `radreply`, `radacct`, `file`. */
  sources: string[];
}

/** The states an import may leave a lifecycle in. */
export const IMPORTED_STATES = ['allocated', 'active', 'suspended'] as const;
export type ImportedState = (typeof IMPORTED_STATES)[number];

export interface AllocateInput {
  /** Derived from the lifecycle id, the step and the generation (machines/steps.ts). */
  key: string;
  lifecycleId: string;
  subscriberId: string;
  pool: string;
  prefixLength: number;
  generation: number;
}
export interface ReleaseInput {
  lifecycleId: string;
  subscriberId: string;
  prefixes: OwnedPrefix[];
  /** Looked up by their idempotency key (allocate again with it returns what IPAM holds), then released. */
  unconfirmed: AllocationAttempt[];
  /**
   * True when nobody carries the prefixes any more (an update's retired prefix, a rolled-back
   * update's new one): they become reusable at once, after the pool's hold-down. False at
   * revocation: they stay quarantined until the revocation's last step frees them.
   */
  free: boolean;
}
export interface RadiusReplyInput {
  username: string | null;
  prefix: OwnedPrefix | null;
}
export interface SessionsInput {
  username: string | null;
  purpose: SessionPurpose;
  prefix: string | null;
}
export interface CpeInput {
  /** Derived from the lifecycle id, the step and the generation (machines/steps.ts). */
  key: string;
  cpeId: string | null;
  prefix: string | null;
}

export type { Allocation, SessionOutcome, CpeResult };
