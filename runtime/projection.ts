import type { SnapshotFrom } from 'xstate';
import type { PrefixLifecycleMachine } from '../machines/prefix-lifecycle.ts';
import type { LifecycleContext, LifecycleState } from '../machines/types.ts';
import type { LifecycleRow } from '../store/lifecycles.ts';
import { decodeSnapshot, encodeSnapshot, type SnapshotColumns } from '../store/snapshot-codec.ts';
import type { InProgress, LifecycleResource } from './resource.ts';

export type { LifecycleResource };

export type LifecycleSnapshot = SnapshotFrom<PrefixLifecycleMachine>;

/** The top-level state, as the API shows it. */
export function publicState(snapshot: Pick<LifecycleSnapshot, 'value'>): LifecycleState {
  const v = snapshot.value;
  return (typeof v === 'string' ? v : Object.keys(v)[0]) as LifecycleState;
}

/** The full state path, e.g. `revoking.sessions`, `active.updateRollback.restoreRadius`. */
export function statePath(snapshot: Pick<LifecycleSnapshot, 'value'>): string {
  const path = (v: unknown): string => {
    if (typeof v === 'string') return v;
    const [key, child] = Object.entries(v as Record<string, unknown>)[0]!;
    return `${key}.${path(child)}`;
  };
  return path(snapshot.value);
}

/**
 * The operation whose outside work a busy snapshot is running (the resource's `in_progress`), read off
 * its state path: `allocated.*` is an activation, `active.update*` an update or its rollback, and so on.
 */
export function inProgress(snapshot: Pick<LifecycleSnapshot, 'value'>): InProgress | null {
  const [top, step = ''] = statePath(snapshot).split('.');
  if (top === 'pending') return 'allocate';
  if (top === 'allocated') return 'activate';
  if (top === 'active') return step.startsWith('update') ? 'update' : step.startsWith('suspend') ? 'suspend' : null;
  if (top === 'suspended') return 'reactivate';
  if (top === 'revoking') return 'revoke';
  return null;
}

/** Earliest time the pending worker should look at this lifecycle again; null when nothing is pending. */
function nextPendingAt(ctx: LifecycleContext, nowIso: string): string | null {
  if (ctx.pending.length === 0) return null;
  return ctx.pending.map((p) => p.next_attempt_at ?? nowIso).sort()[0] ?? nowIso;
}

/** The stored row of a snapshot; with `encode` false (a row only reported, never stored: runtime/at-once.ts) its `snapshot` is empty. */
export function toRow(snapshot: Pick<LifecycleSnapshot, 'value' | 'context' | 'hasTag'>, persisted: unknown, createdAt: string, nowIso: string, encode = true): LifecycleRow {
  const ctx = snapshot.context;
  const row: Omit<LifecycleRow, 'snapshot'> = {
    id: ctx.lifecycleId,
    subscriber_id: ctx.subscriberId,
    state: publicState(snapshot),
    busy: snapshot.hasTag('busy') ? 1 : 0,
    pool: ctx.current?.pool ?? ctx.pool,
    prefix: ctx.current?.prefix ?? null,
    prefix_length: ctx.current?.prefixLength ?? ctx.prefixLength,
    netbox_prefix_id: ctx.current?.netboxPrefixId ?? null,
    username: ctx.username,
    cpe_id: ctx.cpeId,
    allocated_at: ctx.allocatedAt,
    activated_at: ctx.activatedAt,
    suspended_at: ctx.suspendedAt,
    revoked_at: ctx.revokedAt,
    created_at: createdAt,
    updated_at: nowIso,
    next_pending_at: nextPendingAt(ctx, nowIso),
  };
  // Stored compact: what the columns above hold is left out of the snapshot (store/snapshot-codec.ts).
  return { ...row, snapshot: encode ? encodeSnapshot(persisted, row) : '' };
}

/** Whether two rows store the same lifecycle (the time of writing aside): a write of it again adds nothing. */
export function sameRow(a: LifecycleRow, b: LifecycleRow): boolean {
  for (const key of Object.keys(a) as (keyof LifecycleRow)[]) if (key !== 'updated_at' && a[key] !== b[key]) return false;
  return true;
}

/** The persisted snapshot a row stores, for restoring its actor. */
export function persistedSnapshot(row: SnapshotColumns & Pick<LifecycleRow, 'snapshot'>): unknown {
  return decodeSnapshot(row);
}

/** The context of a stored lifecycle, read from its persisted snapshot. */
export function readContext(row: SnapshotColumns & Pick<LifecycleRow, 'snapshot'>): LifecycleContext {
  return decodeSnapshot(row).context;
}

/** The lifecycle resource of `../shared/API.md` (`resource.ts` holds its schema). */
export function toResource(row: LifecycleRow): LifecycleResource {
  const snapshot = decodeSnapshot(row) as Pick<LifecycleSnapshot, 'value' | 'context'>;
  return resourceOf(row, snapshot.context, snapshot);
}

/**
 * `toResource` for a caller that holds the snapshot the row was made from: its context, not the
 * stored text decoded again (and its state, for `in_progress` of a busy row; else read from the row).
 */
export function resourceOf(row: LifecycleRow, ctx: LifecycleContext, snapshot?: Pick<LifecycleSnapshot, 'value'>): LifecycleResource {
  return {
    lifecycle_id: row.id,
    subscriber_id: row.subscriber_id,
    state: row.state as LifecycleState,
    prefix: row.prefix,
    prefix_length: row.prefix_length,
    pool: row.pool,
    netbox_prefix_id: row.netbox_prefix_id,
    username: row.username,
    cpe_id: row.cpe_id,
    allocated_at: row.allocated_at,
    activated_at: row.activated_at,
    reactivated_at: ctx.reactivatedAt ?? null,
    suspended_at: row.suspended_at,
    revoked_at: row.revoked_at,
    updated_at: row.updated_at,
    pending: ctx.pending.map(({ step, attempts, next_attempt_at, last_error }) => ({ step, attempts, next_attempt_at, last_error: last_error ?? null })),
    failure: ctx.failure,
    last_error: ctx.lastError,
    in_progress: row.busy ? inProgress(snapshot ?? (decodeSnapshot(row) as Pick<LifecycleSnapshot, 'value'>)) : null,
  };
}
