import * as assert from 'uvu/assert';
import type { AnyEventObject, StateValue } from 'xstate';
import type { AllocationAttempt, Compensation, CpeResult, Failure, LifecycleContext, OwnedPrefix, PendingStep, Stamped } from '../../../machines/types.ts';
import type { LifecycleSnapshot, ScriptedError } from './model.ts';
import { INPUT } from './model.ts';
import type { Call } from './scripted-actors.ts';
import { STEPS, byGeneration, firstAttempt, mayHaveAllocated, prefixesOf, updateAttempt, withAttempt, withoutAttempt } from './steps.ts';

// The oracle is written from the lifecycle's contract, not from the machine's code: the model
// only says which transition a step takes; what each transition must do to the data is stated here.
// It is one file over 300 lines on purpose: one table of every transition's rule, read top to bottom.
// The step inputs in steps.ts restate inputs.ts from the contract, so a change to either shows.

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

type Field = keyof LifecycleContext;
type Check = (r: StepRecord & { before: LifecycleSnapshot }) => void;

export const pathOf = (value: StateValue): string =>
  typeof value === 'string' ? value : Object.entries(value).map(([k, v]) => `${k}.${pathOf(v as StateValue)}`)[0]!;

/** States after revocation's IPAM step: IPAM must hold nothing for the lifecycle any more. */
const RELEASED = new Set(['revoking.radius', 'revoking.sessions', 'revoking.cpe', 'revoking.free', 'revoked']);

/** The machine has no clock: a timestamp a step sets is the time the runtime stamped on its result. */
function stamped(r: StepRecord, field: 'allocatedAt' | 'activatedAt' | 'reactivatedAt' | 'suspendedAt' | 'revokedAt'): void {
  assert.is(r.after.context[field], (r.event.output as Stamped<unknown>).at, `${field} is the time of this step's result`);
}

function failureMatches(f: Failure | null, error: ScriptedError, step: string, r: StepRecord): void {
  assert.ok(f, 'failure recorded');
  assert.is(f.step, step);
  assert.equal([f.code, f.message, f.attempts, f.at], [error.code, error.message, error.attempts, error.at], 'the failure as the runtime reported it');
}

/** A queued CPE command keeps the generation (the key) of the call that queued it, for every later retry. */
function expectedPending(before: PendingStep[], step: PendingStep['step'], r: StepRecord): PendingStep[] {
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
const UNDO: Record<string, Compensation[]> = {
  'active.updateAllocate': ['releaseNext'],
  'active.updateRadius': ['restoreSessions', 'restoreRadius'],
  'active.updateSessions': [],
  'active.updateCpe': ['restoreCpe'],
};

/** Per transition: which context fields may change, and what they must become. Key: `<state> <done|error|EVENT>`. */
const SPECS: Record<string, { changes: Field[]; check?: Check }> = {
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
    changes: ['next', 'nextRequest', 'retired', 'revokedAt'],
    check: (r) => {
      const a = r.after.context;
      assert.equal([a.next, a.nextRequest, a.retired], [null, null, null]);
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

/** An allocation that failed: the failure is reported, and the attempt kept if IPAM may have taken a block. */
function allocationFailed(from: string, field: 'failure' | 'lastError', attempt: (c: LifecycleContext) => AllocationAttempt): Check {
  return (r) => {
    const [b, a] = [r.before.context, r.after.context];
    failureMatches(a[field], r.event.error, STEPS[from]!.failure(b), r);
    assert.equal(byGeneration(a.unconfirmed), mayHaveAllocated(r.event.error) ? withAttempt(b.unconfirmed, attempt(b)) : byGeneration(b.unconfirmed));
  };
}

/** Where a rollback goes with this stack: the newest compensation's state, or back to idle once nothing is left. */
const rollbackAt = (stack: Compensation[]) => (stack.length ? `active.updateRollback.${stack.at(-1)}` : 'active.idle');

/** The rollback moved on: to the next compensation, or (stack empty) back to idle, forgetting the update. */
function rollbackMoved(r: StepRecord & { before: LifecycleSnapshot }, stack: Compensation[]): void {
  const a = r.after.context;
  assert.is(pathOf(r.after.value), rollbackAt(stack), 'the rollback undoes the newest compensation first');
  assert.equal(a.compensations, stack);
  if (stack.length === 0) assert.equal([a.next, a.nextRequest], [null, null], 'a finished rollback forgets the update');
}

/** Fields a step of the rollback may change: when the stack is empty it also ends the update. */
const rollbackFields = (to: string, own: Field[]): Field[] => [...own, 'compensations', ...(to === 'active.idle' ? (['next', 'nextRequest'] as Field[]) : [])];

function specFor(from: string, to: string, event: AnyEventObject): { changes: Field[]; check?: Check } {
  const kind = event.type.startsWith('xstate.done.actor.') ? 'done' : event.type.startsWith('xstate.error.actor.') ? 'error' : event.type;
  if (kind === 'error' && from === 'pending' && to === 'failed') {
    return { changes: ['failure', 'failedAt', 'unconfirmed'], check: allocationFailed(from, 'failure', firstAttempt) };
  }
  if (kind === 'error' && to === 'failed') {
    return { changes: ['failure', 'failedAt'], check: (r) => failureMatches(r.after.context.failure, r.event.error, STEPS[from]!.failure(r.before.context), r) };
  }
  // An update step failed: the update rolls back. A step without a definitive answer may have had its
  // effect, so what undoes it is pushed too; a refusal undoes only the steps that ran before it.
  const undo = UNDO[from];
  if (kind === 'error' && undo) {
    return {
      changes: rollbackFields(to, ['lastError', 'unconfirmed']),
      check: (r) => {
        const [b, a] = [r.before.context, r.after.context];
        const unknown = mayHaveAllocated(r.event.error);
        failureMatches(a.lastError, r.event.error, STEPS[from]!.failure(b), r);
        const attempt = from === 'active.updateAllocate' && unknown ? withAttempt(b.unconfirmed, updateAttempt(b)) : byGeneration(b.unconfirmed);
        assert.equal(byGeneration(a.unconfirmed), attempt);
        rollbackMoved(r, [...b.compensations, ...(unknown ? undo : [])]);
      },
    };
  }
  // A compensation is done: the next one runs. The release gives back the new prefix and every lost allocation.
  if (kind === 'done' && from.startsWith('active.updateRollback.')) {
    const own: Field[] = from.endsWith('.releaseNext') ? ['next', 'unconfirmed'] : from.endsWith('.restoreCpe') ? ['pending'] : [];
    return {
      changes: rollbackFields(to, own),
      check: (r) => {
        const [b, a] = [r.before.context, r.after.context];
        assert.is(`active.updateRollback.${b.compensations.at(-1)}`, from, 'the state runs the newest compensation');
        if (from.endsWith('.releaseNext')) assert.equal([a.next, a.unconfirmed], [null, []]);
        if (from.endsWith('.restoreCpe')) assert.equal(a.pending, expectedPending(b.pending, 'cpe_configure_pd', r));
        rollbackMoved(r, b.compensations.slice(0, -1));
      },
    };
  }
  const spec = SPECS[`${from} ${kind}`] ?? SPECS[kind];
  if (!spec) throw new Error(`no expectation for "${from} ${kind}": add one to test/machines/support/expectations.ts`);
  return spec;
}

function checkInitial(r: StepRecord): void {
  const c = r.after.context;
  assert.equal({ lifecycleId: c.lifecycleId, subscriberId: c.subscriberId, pool: c.pool, prefixLength: c.prefixLength, ipam: c.ipam }, INPUT);
  assert.equal([c.current, c.generation, c.unconfirmed, c.pending, c.failure, c.compensations], [null, 0, [], [], null, []]);
  assert.equal([c.allocatedAt, c.activatedAt, c.reactivatedAt, c.suspendedAt, c.revokedAt], [null, null, null, null, null]);
}

/** Steps whose input carries an idempotency key. */
const keyOfCall = (c: Call) => (c.input as { key?: unknown }).key;

/** Checks one step of a path on the real actor against the lifecycle's contract. */
export function checkStep(r: StepRecord): void {
  const to = pathOf(r.after.value);
  if (r.before === null) checkInitial(r);
  else {
    const from = pathOf(r.before.value);
    const spec = specFor(from, to, r.event);
    for (const field of Object.keys(r.after.context) as Field[]) {
      if (!spec.changes.includes(field)) assert.equal(r.after.context[field], r.before.context[field], `${field} unchanged by ${from} ${r.event.type}`);
    }
    spec.check?.({ ...r, before: r.before });
  }

  // A step runs while, and only while, the lifecycle is busy; it gets the input its contract names.
  assert.is(r.after.hasTag('busy'), r.running.length === 1, `busy tag in ${to} with ${r.running.length} running step(s)`);
  for (const call of r.started) {
    const step = STEPS[to];
    assert.ok(step, `a step started in ${to}, which invokes nothing`);
    assert.is(call.src, step.src);
    assert.equal(call.input, step.input(r.after.context), `input of ${step.src} in ${to}`);
    // One key, one request: a key used again must ask for exactly the same thing (a retry), or IPAM/the ACS
    // answers with what the first request did.
    const key = keyOfCall(call);
    if (key === undefined) continue;
    for (const e of r.earlier.filter((e) => keyOfCall(e) === key)) {
      assert.equal(call.input, e.input, `${call.src} reuses the key ${String(key)} for another request`);
    }
  }

  assert.is(to === 'failed', r.after.context.failure !== null && r.after.context.failedAt !== null, 'failed ⇔ failure recorded');
  checkLedger(r, to);
}

/**
 * Nothing leaks, nothing is forgotten: IPAM holds every prefix the context names, and each prefix it
 * holds is named by the context or was taken under the key of an attempt the context still remembers.
 * Revocation may already have given back what `current` still names, and must have once past IPAM.
 */
function checkLedger(r: StepRecord, to: string): void {
  const c = r.after.context;
  const known = prefixesOf(c.current, c.next, c.retired).map((p) => p.prefix);
  const remembered = c.unconfirmed.map((a) => a.generation);
  const where = to === 'failed' ? (r.failed?.state ?? to) : to;
  const unexplained = r.ledger.filter((p) => !known.includes(p.prefix) && !remembered.includes(p.generation)).map((p) => p.prefix);
  if (RELEASED.has(where)) return assert.equal(r.ledger, [], `IPAM holds nothing once ${where} is reached`);
  assert.equal(unexplained, [], `IPAM holds prefixes the lifecycle in ${where} no longer knows of`);
  if (!where.startsWith('revoking.')) {
    assert.equal(known.filter((p) => !r.ledger.some((l) => l.prefix === p)), [], `IPAM holds what the context names in ${where}`);
  }
}
