import * as assert from 'uvu/assert';
import type { AnyEventObject } from 'xstate';
import type { AllocationAttempt, Compensation, LifecycleContext } from '../../../machines/types.ts';
import type { LifecycleSnapshot } from './model.ts';
import { INPUT } from './model.ts';
import type { Call } from './scripted-actors.ts';
import { STEPS, byGeneration, firstAttempt, mayHaveAllocated, prefixesOf, updateAttempt, withAttempt } from './steps.ts';
import { SPECS, UNDO, expectedPending, failureMatches, pathOf, type Check, type Field, type StepRecord } from './transition-specs.ts';

// The oracle is written from the lifecycle's contract, not from the machine's code: the model
// only says which transition a step takes; what each transition must do to the data is stated in
// transition-specs.ts (one table of every transition's rule), how a step is checked against it here.
// The step inputs in steps.ts restate inputs.ts from the contract, so a change to either shows.

export { pathOf, type FailedStep, type StepRecord } from './transition-specs.ts';

/** States after revocation's IPAM step: IPAM must hold nothing for the lifecycle any more. */
const RELEASED = new Set(['revoking.radius', 'revoking.sessions', 'revoking.cpe', 'revoking.free', 'revoked']);

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
  // IPAM did not take the new block back: the rollback goes on, the block and every lost allocation
  // become one pending release (review13), and the subscriber stays on the old prefix.
  if (kind === 'error' && from === 'active.updateRollback.releaseNext') {
    return {
      changes: rollbackFields(to, ['next', 'unconfirmed', 'pending']),
      check: (r) => {
        const [b, a] = [r.before.context, r.after.context];
        assert.equal([a.next, a.unconfirmed, a.current], [null, [], b.current]);
        const step = STEPS[from]!.failure(b);
        const was = b.pending.find((p) => p.step === step)?.release ?? { prefixes: [], unconfirmed: [] };
        const now = a.pending.filter((p) => p.step === step);
        assert.equal(now.map((p) => p.release), [{ prefixes: [...was.prefixes, ...prefixesOf(b.next)], unconfirmed: [...was.unconfirmed, ...b.unconfirmed] }]);
        assert.equal(a.pending.filter((p) => p.step !== step), b.pending.filter((p) => p.step !== step));
        rollbackMoved(r, b.compensations.slice(0, -1));
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
  if (!spec) throw new Error(`no expectation for "${from} ${kind}": add one to test/machines/support/transition-specs.ts`);
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
  // A pending release (review13) still holds what it gives back once IPAM answers.
  const giving = c.pending.flatMap((p) => (p.release ? [p.release] : []));
  const known = [...prefixesOf(c.current, c.next, c.retired), ...giving.flatMap((g) => g.prefixes)].map((p) => p.prefix);
  const remembered = [...c.unconfirmed, ...giving.flatMap((g) => g.unconfirmed)].map((a) => a.generation);
  const where = to === 'failed' ? (r.failed?.state ?? to) : to;
  const unexplained = r.ledger.filter((p) => !known.includes(p.prefix) && !remembered.includes(p.generation)).map((p) => p.prefix);
  if (RELEASED.has(where)) return assert.equal(r.ledger, [], `IPAM holds nothing once ${where} is reached`);
  assert.equal(unexplained, [], `IPAM holds prefixes the lifecycle in ${where} no longer knows of`);
  if (!where.startsWith('revoking.')) {
    assert.equal(known.filter((p) => !r.ledger.some((l) => l.prefix === p)), [], `IPAM holds what the context names in ${where}`);
  }
}
