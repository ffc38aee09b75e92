// Stored lifecycles made by hand, for tests of the store and of what reads it: each row is valid for
// the schema, and its snapshot carries only the context fields a test names.
import type { LifecycleContext } from '../../machines/types.ts';
import type { AuditEntry, LifecycleRow } from '../../store/lifecycles.ts';
import { decodeSnapshot, encodeSnapshot } from '../../store/snapshot-codec.ts';

/** A row of an `allocated` lifecycle; `context` goes into its snapshot. */
export function lifecycleRow(fields: Partial<LifecycleRow> & { id: string }, context: Record<string, unknown> = {}): LifecycleRow {
  return {
    subscriber_id: `sub-${fields.id}`,
    state: 'allocated',
    busy: 0,
    pool: 'residential',
    prefix: null,
    prefix_length: 56,
    netbox_prefix_id: null,
    username: null,
    cpe_id: null,
    allocated_at: null,
    activated_at: null,
    suspended_at: null,
    revoked_at: null,
    created_at: '2026-01-01T00:00:00.000Z',
    updated_at: '2026-01-01T00:00:00.000Z',
    next_pending_at: null,
    snapshot: JSON.stringify({ value: fields.state ?? 'allocated', context }),
    ...fields,
  };
}

/** The audit entry of `row` reaching its state by `type`. */
export function auditEntry(row: LifecycleRow, type: string, from: string | null = null, detail: unknown = null): AuditEntry {
  return {
    lifecycle_id: row.id,
    subscriber_id: row.subscriber_id,
    at: row.updated_at,
    type,
    from_state: from,
    to_state: row.state,
    detail: detail === null ? null : JSON.stringify(detail),
  };
}

/** `row` with its stored context changed by `edit`, encoded as the store encodes it. */
export function withContext(row: LifecycleRow, edit: (ctx: LifecycleContext) => void): LifecycleRow {
  const snapshot = decodeSnapshot(row);
  edit(snapshot.context);
  return { ...row, snapshot: encodeSnapshot(snapshot, row) };
}
