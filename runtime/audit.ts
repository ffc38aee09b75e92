import { STEPS, stepAt } from '../machines/steps.ts';
import type { LifecycleContext } from '../machines/types.ts';
import type { LifecycleSnapshot } from './projection.ts';

/**
 * What an audit entry says besides its type and states: the state path it reached (`state`) and
 * left (`from_state`), and for an outside step its public name (`step`, as in `failure.step` and
 * `pending[].step`). Keys are snake_case like the rest of the API, however the machine spells them.
 */
export type AuditDetail = { state: string; from_state?: string; step?: string } & Record<string, unknown>;

/** Where the lifecycle was before the event: its state path and context (null for a new lifecycle). */
export interface AuditFrom {
  path: string;
  context: LifecycleContext;
}

/**
 * Audit types: the lifecycle's own events by name; invoked steps as STEP_DONE, STEP_FAILED, or
 * STEP_SKIPPED when the step had nothing to talk to (no peer configured, no username, no CPE).
 */
export function auditType(event: Record<string, unknown> & { type: string }): string {
  const { type } = event;
  if (type === 'xstate.init') return 'CREATED';
  if (type.startsWith('xstate.done.actor.')) return (event.output as { skipped?: string } | undefined)?.skipped ? 'STEP_SKIPPED' : 'STEP_DONE';
  if (type.startsWith('xstate.error.actor.')) return 'STEP_FAILED';
  return type;
}

/** The detail of one event: the step it ended, what the step returned or why it failed or was skipped, or the event's payload. */
export function auditDetail(event: Record<string, unknown>, from: AuditFrom | null, toPath: string, snapshot: Pick<LifecycleSnapshot, 'context'>): AuditDetail {
  const detail: AuditDetail = { state: toPath };
  if (from) detail.from_state = from.path;
  const type = String(event.type);
  const isStep = type.startsWith('xstate.done.actor.') || type.startsWith('xstate.error.actor.');
  const step = isStep && from ? stepAt(from.path) : undefined;
  // Named from the context the step ran with, as its failure is: an update's release is named after
  // the IPAM of the prefix it gave back, which the context after it no longer holds.
  if (step && from) detail.step = STEPS[step].publicName(from.context);
  if (type === 'xstate.init') {
    const c = snapshot.context;
    Object.assign(detail, { pool: c.pool, prefix_length: c.prefixLength, ipam: c.ipam });
  } else if (type.startsWith('xstate.done.actor.')) {
    // Step actors resolve with `{ at, result }`: the audit entry has its own time.
    const { result, skipped } = (event.output ?? {}) as { result?: unknown; skipped?: string };
    if (skipped) detail.reason = skipped;
    else if (result !== undefined) detail.output = result;
  } else if (type.startsWith('xstate.error.actor.')) {
    const e = (event.error ?? {}) as { code?: string; message?: string; attempts?: number };
    detail.error = { code: e.code ?? 'internal', message: e.message ?? String(event.error), attempts: e.attempts ?? 1 };
  } else {
    const { type: _type, ...payload } = event;
    Object.assign(detail, payload);
  }
  return snakeKeys(detail) as AuditDetail;
}

// The keys are a few dozen field names, each converted on every audit entry: each is converted once.
const snakeOf = new Map<string, string>();
const snake = (key: string) => {
  let out = snakeOf.get(key);
  if (out === undefined) {
    out = key.replace(/[A-Z]/g, (c) => `_${c.toLowerCase()}`);
    // An event's payload may bring keys of its own: the memo stays bounded.
    if (snakeOf.size < 1000) snakeOf.set(key, out);
  }
  return out;
};

/** Every key, at every depth, in snake_case (values untouched): `prefixLength` → `prefix_length`. */
export function snakeKeys(value: unknown): unknown {
  if (Array.isArray(value)) return value.map(snakeKeys);
  if (value === null || typeof value !== 'object') return value;
  const out: Record<string, unknown> = {};
  for (const [k, v] of Object.entries(value)) {
    // As Object.fromEntries would: `__proto__` stays an own key, never the object's prototype.
    if (k === '__proto__') Object.defineProperty(out, k, { value: snakeKeys(v), enumerable: true, writable: true, configurable: true });
    else out[snake(k)] = snakeKeys(v);
  }
  return out;
}
