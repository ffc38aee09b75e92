// What the lifecycle operations take and answer (LifecycleService), apart so that the HTTP layer
// and adoption read the shapes without the service.
import type { IpamKind } from '../machines/types.ts';
import type { Acceptance } from '../store/idempotency.ts';
import type { LifecycleResource } from './projection.ts';

/** A configured pool and the IPAM that serves it. */
export interface PoolSpec {
  name: string;
  prefix: string;
  prefix_length: number;
  ipam: IpamKind;
  /** The longest length a request may ask (default 64); 63 with radius.reply.framed_prefix first64. */
  longest?: number;
}

/** What an operation answers: `settled` false means the caller should answer 202 and let the client poll. */
export interface OperationResult {
  created: boolean;
  settled: boolean;
  lifecycle: LifecycleResource;
}

/**
 * What an operation answers within its `?wait=`, and `final`: its outcome, however long it takes.
 * An operation is carried out to the end even when the caller answered 202 (it keeps its place in
 * the subscriber's queue); `final` is settled false only when the actor was stopped under it.
 */
export interface Accepted extends OperationResult {
  final: Promise<OperationResult>;
}

/** Where an operation was accepted: its lifecycle and its subscriber's last audit seq before (store/idempotency.ts). */
export type { Acceptance };

/** The bond between an operation and the Idempotency-Key it was sent with. */
export interface Ticket {
  /** Called synchronously just before the operation's event is sent or its lifecycle created. */
  accepted(at: Acceptance): void;
  /**
   * An earlier run of the same request that was accepted but whose outcome was never stored (the
   * process died): if its event is in the audit trail it is not applied again, its outcome is awaited.
   */
  resume?: Acceptance | null;
}
