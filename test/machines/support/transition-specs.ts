import * as assert from 'uvu/assert';
import type { AnyEventObject, StateValue } from 'xstate';
import type { AllocationAttempt, Compensation, CpeResult, Failure, LifecycleContext, OwnedPrefix, PendingStep, Stamped } from '../../../machines/types.ts';
import type { LifecycleSnapshot, ScriptedError } from './model.ts';
import type { Call } from './scripted-actors.ts';
import { byGeneration, firstAttempt, mayHaveAllocated, updateAttempt, withoutAttempt } from './steps.ts';

// The oracle's table (expectations.ts reads it): what each transition must do to the data, written from
// the lifecycle's contract, not from the machine's code. One rule per transition, read top to bottom.

/** What one executed step looked like on the real actor. */
export interface StepRecord {
  event: AnyEventObject;
  before: LifecycleSnapshot | null;
  after: LifecycleSnapshot;
  /** The call this step ended (done/error steps). */
  settled: Call | null;
  /** Calls that started during this step. */
  started: Call[];
  /** Calls that started before this step. */
  earlier: Call[];
  running: Call[];
  /** What the fake IPAM holds for this lifecycle after the step, sorted by prefix: each with the generation whose key took it. */
  ledger: { prefix: string; generation: number }[];
  /** Clock reading just before the step: a timestamp "set now" is at least this. */
  startedAt: string;
  /** The step whose failure the lifecycle is in after this step (null unless `failed`). */
  failed: FailedStep | null;
  /** The same before this step: what a RETRY resumes. */
  resumed: FailedStep | null;
}

export interface FailedStep {
  /** The state whose step failed, e.g. `revoking.cpe`. */
  state: string;
  call: Call;
}

export type Field = keyof LifecycleContext;
export type Check = (r: StepRecord & { before: LifecycleSnapshot }) => void;

export const pathOf = (value: StateValue): string =>
  typeof value === 'string' ? value : Object.entries(value).map(([k, v]) => `${k}.${pathOf(v as StateValue)}`)[0]!;

/** The machine has no clock: a timestamp a step sets is the time the runtime stamped on its result. */
function stamped(r: StepRecord, field: 'allocatedAt' | 'activatedAt' | 'reactivatedAt' | 'suspendedAt' | 'revokedAt'): void {
  assert.is(r.after.context[field], (r.event.output as Stamped<unknown>).at, `${field} is the time of this step's result`);
}

export function failureMatches(f: Failure | null, error: ScriptedError, step: string, r: StepRecord): void {
  assert.ok(f, 'failure recorded');
  assert.is(f.step, step);
  assert.equal([f.code, f.message, f.attempts, f.at], [error.code, error.message, error.attempts, error.at], 'the failure as the runtime reported it');
}

/** A queued CPE command keeps the generation (the key) of the call that queued it, for every later retry. */
export function expectedPending(before: PendingStep[], step: PendingStep['step'], r: StepRecord): PendingStep[] {
  const others = before.filter((p) => !p.step.startsWith('cpe_'));
  const stamped = r.event.output as Stamped<CpeResult>;
  const out = stamped.result;
  const { key } = r.settled!.input as { key: string };
  const { generation } = r.before!.context;
  // Scheduled at once: at the runtime's time, or due when queued.
  const next_attempt_at = stamped.retryAt ?? stamped.at;
  return out.status === 'queued' ? [...others, { step, key, generation, attempts: 1, next_attempt_at, task_id: out.taskId }] : others;
}

const ownedFrom = (output: unknown, a: AllocationAttempt): OwnedPrefix => ({ ...(output as Stamped<OwnedPrefix>).result, pool: a.pool, generation: a.generation, ipam: a.ipam });

/** What an update must undo for each step that ran (or may have): RADIUS is restored before the sessions are told. */
export const UNDO: Record<string, Compensation[]> = {
  'active.updateAllocate': ['releaseNext'],
  'active.updateRadius': ['restoreSessions', 'restoreRadius'],
  'active.updateSessions': [],
  'active.updateCpe': ['restoreCpe'],
};

/** Per transition: which context fields may change, and what they must become. Key: `<state> <done|error|EVENT>`. */
export const SPECS: Record<string, { changes: Field[]; check?: Check }> = {
  // An answer settles the attempt under that key: if an earlier try of it was lost, this adopts what IPAM holds.
  'pending done': {
    changes: ['current', 'allocatedAt', 'unconfirmed'],
    check: (r) => {
      const b = r.before.context;
      assert.equal(r.after.context.current, ownedFrom(r.event.output, firstAttempt(b)));
      assert.equal(byGeneration(r.after.context.unconfirmed), withoutAttempt(b.unconfirmed, b.generation));
      stamped(r, 'allocatedAt');
    },
  },
  'allocated.radius done': { changes: [] },
  'allocated.cpe done': {
    changes: ['pending', 'activatedAt'],
    check: (r) => (assert.equal(r.after.context.pending, expectedPending(r.before.context.pending, 'cpe_configure_pd', r)), stamped(r, 'activatedAt')),
  },
  'active.suspendRadius done': { changes: [] },
  'active.suspendSessions done': { changes: ['suspendedAt'], check: (r) => stamped(r, 'suspendedAt') },
  'active.updateAllocate done': {
    changes: ['next', 'unconfirmed', 'compensations'],
    check: (r) => {
      const b = r.before.context;
      assert.equal(r.after.context.next, ownedFrom(r.event.output, updateAttempt(b)));
      assert.equal(byGeneration(r.after.context.unconfirmed), withoutAttempt(b.unconfirmed, b.generation));
      assert.equal(r.after.context.compensations, [...b.compensations, 'releaseNext']);
    },
  },
  'active.updateRadius done': {
    changes: ['compensations'],
    check: (r) => assert.equal(r.after.context.compensations, [...r.before.context.compensations, 'restoreSessions', 'restoreRadius']),
  },
  'active.updateSessions done': { changes: [] },
  // The commit: the new prefix becomes current, the old one is retired until IPAM has it back. The
  // generation stays: UPDATE counted the attempt already.
  'active.updateCpe done': {
    changes: ['pending', 'retired', 'current', 'pool', 'prefixLength', 'ipam', 'next', 'nextRequest', 'compensations'],
    check: (r) => {
      const [b, a] = [r.before.context, r.after.context];
      assert.equal(a.current, b.next);
      assert.equal(a.retired, b.current);
      assert.equal(a.compensations, [], 'a committed update has nothing to undo');
      assert.equal([a.pool, a.prefixLength, a.ipam], [b.next!.pool, b.next!.prefixLength, b.nextRequest!.ipam]);
      assert.equal([a.next, a.nextRequest], [null, null]);
      assert.equal(a.pending, expectedPending(b.pending, 'cpe_configure_pd', r));
    },
  },
  'active.updateRelease done': { changes: ['retired'], check: (r) => assert.is(r.after.context.retired, null) },
  'suspended.reactivateRadius done': { changes: [] },
  'suspended.reactivateSessions done': {
    changes: ['reactivatedAt', 'reason'],
    check: (r) => (assert.is(r.after.context.reason, null), stamped(r, 'reactivatedAt')),
  },
  'revoking.release done': { changes: ['unconfirmed'], check: (r) => assert.equal(r.after.context.unconfirmed, []) },
  'revoking.radius done': { changes: [] },
  'revoking.sessions done': { changes: [] },
  'revoking.cpe done': {
    changes: ['pending'],
    check: (r) => assert.equal(r.after.context.pending, expectedPending(r.before.context.pending, 'cpe_remove_ipv6', r)),
  },
  // The prefixes stay named until they are freed: the free step must know what to free.
  'revoking.free done': {
    changes: ['next', 'nextRequest', 'retired', 'revokedAt', 'pending'],
    check: (r) => {
      const a = r.after.context;
      assert.equal([a.next, a.nextRequest, a.retired], [null, null, null]);
      assert.equal(a.pending, r.before.context.pending.filter((p) => !p.release), 'the revocation gave back what pending releases held');
      stamped(r, 'revokedAt');
    },
  },
  // Adoption: the field's prefix is owned as generation 0's, stamped with the import's time; nothing outside runs.
  'pending IMPORT': {
    changes: ['current', 'pool', 'prefixLength', 'ipam', 'username', 'cpeId', 'allocatedAt', 'activatedAt', 'suspendedAt'],
    check: (r) => {
      const [a, e] = [r.after.context, r.event];
      assert.equal(a.current, { ...e.prefix, pool: e.pool, generation: 0, ipam: e.ipam });
      assert.equal([a.pool, a.prefixLength, a.ipam, a.username, a.cpeId], [e.pool, e.prefix.prefixLength, e.ipam, e.username, e.cpeId]);
      assert.is(pathOf(r.after.value), `${e.state}.idle`);
      assert.equal([a.allocatedAt, a.activatedAt, a.suspendedAt], [e.at, e.state === 'allocated' ? null : e.at, e.state === 'suspended' ? e.at : null]);
      assert.equal(r.started, [], 'an import starts no outside step');
    },
  },
  'ACTIVATE': { changes: ['username', 'cpeId'], check: (r) => assert.equal([r.after.context.username, r.after.context.cpeId], [r.event.username, r.event.cpeId]) },
  'SUSPEND': { changes: ['reason'], check: (r) => assert.is(r.after.context.reason, r.event.reason) },
  'REACTIVATE': { changes: [] },
  // Every update attempt counts a generation, so its keys are new: no key of an earlier attempt is reused.
  'UPDATE': {
    changes: ['nextRequest', 'lastError', 'generation'],
    check: (r) => {
      const [b, a] = [r.before.context, r.after.context];
      assert.equal([a.nextRequest, a.lastError], [{ pool: r.event.pool, prefixLength: r.event.prefixLength, ipam: r.event.ipam }, null]);
      assert.is(a.generation, b.generation + 1);
      const used = r.earlier.filter((c) => c.src === 'allocatePrefix').map((c) => (c.input as { generation: number }).generation);
      assert.not.ok(used.includes(a.generation), `generation ${a.generation} was used by an earlier allocation`);
    },
  },
  'REVOKE': { changes: ['reason'], check: (r) => assert.is(r.after.context.reason, r.event.reason) },
  // IPAM refused the first allocation for certain: nothing is held, the lifecycle closes with the reason.
  'pending error': {
    changes: ['lastError', 'revokedAt', 'reason'],
    check: (r) => {
      assert.not.ok(mayHaveAllocated(r.event.error), `a ${r.event.error.code} may have allocated: the lifecycle must not close`);
      failureMatches(r.after.context.lastError, r.event.error, `${r.before.context.ipam}_allocate`, r);
      assert.is(r.after.context.revokedAt, r.event.error.at);
      assert.is(r.after.context.reason, `allocation refused: ${r.event.error.code}`);
    },
  },
  'failed REVOKE': {
    changes: ['reason', 'failure', 'failedAt'],
    check: (r) => assert.equal([r.after.context.reason, r.after.context.failure, r.after.context.failedAt], [r.event.reason, null, null]),
  },
  // RETRY resumes exactly the step that failed, with the same input: same idempotency key material.
  'failed RETRY': {
    changes: ['failure', 'failedAt'],
    check: (r) => {
      assert.equal([r.after.context.failure, r.after.context.failedAt], [null, null]);
      assert.is(pathOf(r.after.value), r.resumed!.state, 'RETRY resumes the failed step');
      assert.equal(r.started.map((c) => [c.src, c.input]), [[r.resumed!.call.src, r.resumed!.call.input]]);
    },
  },
  'PENDING_RESOLVED': { changes: ['pending'], check: (r) => assert.equal(r.after.context.pending, r.before.context.pending.filter((p) => p.step !== r.event.step)) },
  'PENDING_DEFERRED': {
    changes: ['pending'],
    check: (r) =>
      assert.equal(
        r.after.context.pending,
        r.before.context.pending.map((p) => (p.step === r.event.step ? { ...p, attempts: p.attempts + 1, next_attempt_at: r.event.next_attempt_at } : p)),
      ),
  },
};
