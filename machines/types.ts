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
  | 'update_rollback'
  | 'revoke_release'
  | 'revoke_radius'
  | 'revoke_sessions'
  | 'revoke_cpe';

/** Why a session notification is sent: the runtime picks Disconnect or CoA from it. */
export type SessionPurpose = 'suspend' | 'reactivate' | 'update' | 'revoke';

export type IpamKind = 'embedded' | 'netbox' | 'fake';

/** A prefix the lifecycle holds in IPAM, with the generation whose key allocated it. */
export interface HeldPrefix extends Allocation {
  pool: string;
  generation: number;
  /** The IPAM that holds it (a pool may move from one IPAM to another between updates). */
  ipam: IpamKind;
}

/** An allocation whose outcome is unknown (the answer was lost): IPAM may hold a prefix under its key. */
export interface AllocationAttempt {
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

/** Outside work accepted but not confirmed yet (an offline CPE). */
export interface PendingStep {
  step: 'cpe_configure_pd' | 'cpe_remove_ipv6';
  /** The generation of the step that queued it: its idempotency key, reused by every retry. */
  generation: number;
  attempts: number;
  next_attempt_at: string | null;
  task_id: string | null;
}

export interface LifecycleInput {
  lifecycleId: string;
  subscriberId: string;
  pool: string;
  prefixLength: number;
  ipam: IpamKind;
}

export interface LifecycleContext extends LifecycleInput {
  /** Current prefix; null until allocated. */
  held: HeldPrefix | null;
  /** Increments with every allocation attempt (first allocation 0, each UPDATE +1); part of the idempotency keys. */
  generation: number;
  /** Allocations that may have happened without our knowing: given back on revoke and rollback. */
  unconfirmed: AllocationAttempt[];
  /** The target of an update in progress. */
  next: HeldPrefix | null;
  nextRequest: { pool: string; prefixLength: number; ipam: IpamKind } | null;
  /** The previous prefix of an update, until IPAM has it back. */
  retired: HeldPrefix | null;
  username: string | null;
  cpeId: string | null;
  allocatedAt: string | null;
  activatedAt: string | null;
  suspendedAt: string | null;
  revokedAt: string | null;
  failure: Failure | null;
  failedAt: StepId | null;
  /** The last rolled-back update's error; the lifecycle itself stayed `active`. */
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
  | { type: 'PENDING_RESOLVED'; step: PendingStep['step'] }
  /** A pending CPE step is still queued; try again later. */
  | { type: 'PENDING_DEFERRED'; step: PendingStep['step']; next_attempt_at: string };

export interface AllocateInput {
  lifecycleId: string;
  subscriberId: string;
  pool: string;
  prefixLength: number;
  generation: number;
}
export interface ReleaseInput {
  lifecycleId: string;
  subscriberId: string;
  prefixes: HeldPrefix[];
  /** Looked up by their idempotency key (allocate again with it returns what IPAM holds), then released. */
  unconfirmed: AllocationAttempt[];
}
export interface RadiusReplyInput {
  username: string | null;
  prefix: HeldPrefix | null;
}
export interface SessionsInput {
  username: string | null;
  purpose: SessionPurpose;
  prefix: string | null;
}
export interface CpeInput {
  lifecycleId: string;
  cpeId: string | null;
  prefix: string | null;
  generation: number;
}
export interface RollbackInput {
  lifecycleId: string;
  subscriberId: string;
  username: string | null;
  /** The CPE to put back on the old prefix (an unanswered CPE command may have reached it). */
  cpeId: string | null;
  generation: number;
  restore: HeldPrefix | null;
  release: HeldPrefix | null;
  unconfirmed: AllocationAttempt[];
}

export type { Allocation, SessionOutcome, CpeResult };
