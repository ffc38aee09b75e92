import * as assert from 'uvu/assert';
import type { AnyEventObject, StateValue } from 'xstate';
import type { AllocationAttempt, CpeResult, Failure, HeldPrefix, LifecycleContext, PendingStep } from '../../../machines/types.ts';
import type { LifecycleSnapshot, ScriptedError } from './model.ts';
import { INPUT } from './model.ts';
import type { Call } from './scripted-actors.ts';
import { STEPS, byGeneration, firstAttempt, mayHaveAllocated, prefixesOf, updateAttempt, withAttempt, withoutAttempt } from './steps.ts';

// The oracle is written from the lifecycle's contract, not from the machine's code: the model
// only says which transition a step takes; what each transition must do to the data is stated here.

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
const RELEASED = new Set(['revoking.radius', 'revoking.sessions', 'revoking.cpe', 'revoked']);

function stamped(r: StepRecord, field: 'allocatedAt' | 'activatedAt' | 'suspendedAt' | 'revokedAt'): void {
  const at = r.after.context[field];
  assert.ok(at !== null && at >= r.startedAt, `${field} set by this step (${at} < ${r.startedAt})`);
}

function failureMatches(f: Failure | null, error: ScriptedError, step: string, r: StepRecord): void {
  assert.ok(f, 'failure recorded');
  assert.is(f.step, step);
  assert.equal([f.code, f.message, f.attempts], [error.code, error.message, error.attempts]);
  assert.ok(f.at >= r.startedAt, 'failure.at is the time of the failure');
}

/** A queued CPE command keeps the generation (the key) of the call that queued it, for every later retry. */
function expectedPending(before: PendingStep[], step: PendingStep['step'], r: StepRecord): PendingStep[] {
  const others = before.filter((p) => !p.step.startsWith('cpe_'));
  const out = r.event.output as CpeResult;
  const { generation } = r.settled!.input as { generation: number };
  return out.status === 'queued' ? [...others, { step, generation, attempts: 1, next_attempt_at: null, task_id: out.taskId }] : others;
}

const heldFrom = (output: unknown, a: AllocationAttempt): HeldPrefix => ({ ...(output as HeldPrefix), pool: a.pool, generation: a.generation, ipam: a.ipam });

/** Per transition: which context fields may change, and what they must become. Key: `<state> <done|error|EVENT>`. */
const SPECS: Record<string, { changes: Field[]; check?: Check }> = {
  // An answer settles the attempt under that key: if an earlier try of it was lost, this adopts what IPAM holds.
  'pending done': {
    changes: ['held', 'allocatedAt', 'unconfirmed'],
    check: (r) => {
      const b = r.before.context;
      assert.equal(r.after.context.held, heldFrom(r.event.output, firstAttempt(b)));
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
    changes: ['next', 'unconfirmed'],
    check: (r) => {
      const b = r.before.context;
      assert.equal(r.after.context.next, heldFrom(r.event.output, updateAttempt(b)));
      assert.equal(byGeneration(r.after.context.unconfirmed), withoutAttempt(b.unconfirmed, b.generation));
    },
  },
  'active.updateRadius done': { changes: [] },
  'active.updateSessions done': { changes: [] },
  // The commit: the new prefix becomes current, the old one is retired until IPAM has it back. The
  // generation stays: UPDATE counted the attempt already.
  'active.updateCpe done': {
    changes: ['pending', 'retired', 'held', 'pool', 'prefixLength', 'ipam', 'next', 'nextRequest', 'activatedAt'],
    check: (r) => {
      const [b, a] = [r.before.context, r.after.context];
      assert.equal(a.held, b.next);
      assert.equal(a.retired, b.held);
      assert.equal([a.pool, a.prefixLength, a.ipam], [b.next!.pool, b.next!.prefixLength, b.nextRequest!.ipam]);
      assert.equal([a.next, a.nextRequest], [null, null]);
      assert.equal(a.pending, expectedPending(b.pending, 'cpe_configure_pd', r));
      stamped(r, 'activatedAt');
    },
  },
  'active.updateRelease done': { changes: ['retired'], check: (r) => assert.is(r.after.context.retired, null) },
  // A rollback keeps the old prefix (unchanged fields are checked for every step) and forgets the new one,
  // and whatever a lost allocation took, since it gave that back too.
  'active.updateRollback done': {
    changes: ['next', 'nextRequest', 'unconfirmed'],
    check: (r) => assert.equal([r.after.context.next, r.after.context.nextRequest, r.after.context.unconfirmed], [null, null, []]),
  },
  'suspended.reactivateRadius done': { changes: [] },
  'suspended.reactivateSessions done': {
    changes: ['activatedAt', 'reason'],
    check: (r) => (assert.is(r.after.context.reason, null), stamped(r, 'activatedAt')),
  },
  'revoking.release done': { changes: ['unconfirmed'], check: (r) => assert.equal(r.after.context.unconfirmed, []) },
  'revoking.radius done': { changes: [] },
  'revoking.sessions done': { changes: [] },
  'revoking.cpe done': {
    changes: ['pending', 'next', 'nextRequest', 'retired', 'revokedAt'],
    check: (r) => {
      const a = r.after.context;
      assert.equal([a.next, a.nextRequest, a.retired], [null, null, null]);
      assert.equal(a.pending, expectedPending(r.before.context.pending, 'cpe_remove_ipv6', r));
      stamped(r, 'revokedAt');
    },
  },
  // IPAM said no for certain: the lifecycle stays active on its current prefix, with nothing to give back.
  'active.updateAllocate error': {
    changes: ['lastError', 'nextRequest'],
    check: (r) => {
      assert.not.ok(mayHaveAllocated(r.event.error), `a ${r.event.error.code} may have allocated: it must be rolled back`);
      failureMatches(r.after.context.lastError, r.event.error, `${r.before.context.nextRequest!.ipam}_allocate`, r);
      assert.is(r.after.context.nextRequest, null);
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

function specFor(from: string, to: string, event: AnyEventObject): { changes: Field[]; check?: Check } {
  const kind = event.type.startsWith('xstate.done.actor.') ? 'done' : event.type.startsWith('xstate.error.actor.') ? 'error' : event.type;
  if (kind === 'error' && from === 'pending') return { changes: ['failure', 'failedAt', 'unconfirmed'], check: allocationFailed(from, 'failure', firstAttempt) };
  if (kind === 'error' && to === 'failed') {
    return { changes: ['failure', 'failedAt'], check: (r) => failureMatches(r.after.context.failure, r.event.error, STEPS[from]!.failure(r.before.context), r) };
  }
  // An update allocation without an answer is rolled back, which gives back whatever it may have taken.
  if (kind === 'error' && from === 'active.updateAllocate' && to === 'active.updateRollback') {
    return { changes: ['lastError', 'unconfirmed'], check: allocationFailed(from, 'lastError', updateAttempt) };
  }
  // Update steps after the allocation roll back instead of failing: the subscriber keeps the old prefix.
  if (kind === 'error' && to === 'active.updateRollback') {
    return { changes: ['lastError'], check: (r) => failureMatches(r.after.context.lastError, r.event.error, STEPS[from]!.failure(r.before.context), r) };
  }
  const spec = SPECS[`${from} ${kind}`] ?? SPECS[kind];
  if (!spec) throw new Error(`no expectation for "${from} ${kind}": add one to test/machines/support/expectations.ts`);
  return spec;
}

function checkInitial(r: StepRecord): void {
  const c = r.after.context;
  assert.equal({ lifecycleId: c.lifecycleId, subscriberId: c.subscriberId, pool: c.pool, prefixLength: c.prefixLength, ipam: c.ipam }, INPUT);
  assert.equal([c.held, c.generation, c.unconfirmed, c.pending, c.failure], [null, 0, [], [], null]);
  assert.equal([c.allocatedAt, c.activatedAt, c.suspendedAt, c.revokedAt], [null, null, null, null]);
}

/** Steps whose input is idempotency key material: the lifecycle id, the step and the generation. */
const KEYED = new Set(['allocatePrefix', 'configureCpe', 'removeCpeIpv6']);

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
    const generation = (c: Call) => (c.input as { generation: number }).generation;
    if (!KEYED.has(call.src)) continue;
    for (const e of r.earlier.filter((e) => e.src === call.src && generation(e) === generation(call))) {
      assert.equal(call.input, e.input, `${call.src} reuses the key of generation ${generation(call)} for another request`);
    }
  }

  assert.is(to === 'failed', r.after.context.failure !== null && r.after.context.failedAt !== null, 'failed ⇔ failure recorded');
  checkLedger(r, to);
}

/**
 * Nothing leaks, nothing is forgotten: IPAM holds every prefix the context names, and each prefix it
 * holds is named by the context or was taken under the key of an attempt the context still remembers.
 * Revocation may already have given back what `held` still names, and must have once past IPAM.
 */
function checkLedger(r: StepRecord, to: string): void {
  const c = r.after.context;
  const known = prefixesOf(c.held, c.next, c.retired).map((p) => p.prefix);
  const remembered = c.unconfirmed.map((a) => a.generation);
  const where = to === 'failed' ? (r.failed?.state ?? to) : to;
  const unexplained = r.ledger.filter((p) => !known.includes(p.prefix) && !remembered.includes(p.generation)).map((p) => p.prefix);
  if (RELEASED.has(where)) return assert.equal(r.ledger, [], `IPAM holds nothing once ${where} is reached`);
  assert.equal(unexplained, [], `IPAM holds prefixes the lifecycle in ${where} no longer knows of`);
  if (!where.startsWith('revoking.')) {
    assert.equal(known.filter((p) => !r.ledger.some((l) => l.prefix === p)), [], `IPAM holds what the context names in ${where}`);
  }
}
