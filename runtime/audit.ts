import type { LifecycleSnapshot } from './projection.ts';

/** What an audit entry says besides its type and states. */
export type AuditDetail = { state: string; step?: string } & Record<string, unknown>;

/** Audit types: the lifecycle's own events by name, invoked steps as STEP_DONE / STEP_FAILED. */
export function auditType(type: string): string {
  if (type === 'xstate.init') return 'CREATED';
  if (type.startsWith('xstate.done.actor.')) return 'STEP_DONE';
  if (type.startsWith('xstate.error.actor.')) return 'STEP_FAILED';
  return type;
}

/** The detail of one event: the step it ended, what the step returned or why it failed, or the event's payload. */
export function auditDetail(event: Record<string, unknown>, fromPath: string | null, toPath: string, snapshot: LifecycleSnapshot): AuditDetail {
  const detail: AuditDetail = { state: toPath };
  if (fromPath) detail.step = fromPath;
  const type = String(event.type);
  if (type === 'xstate.init') {
    const c = snapshot.context;
    Object.assign(detail, { pool: c.pool, prefix_length: c.prefixLength, ipam: c.ipam });
  } else if (type.startsWith('xstate.done.actor.')) {
    // Step actors resolve with `{ at, result }`: the audit entry has its own time.
    const { result } = (event.output ?? {}) as { result?: unknown };
    if (result !== undefined) detail.output = result;
  } else if (type.startsWith('xstate.error.actor.')) {
    const e = (event.error ?? {}) as { code?: string; message?: string; attempts?: number };
    detail.error = { code: e.code ?? 'internal', message: e.message ?? String(event.error), attempts: e.attempts ?? 1 };
  } else {
    const { type: _type, ...payload } = event;
    Object.assign(detail, payload);
  }
  return detail;
}
