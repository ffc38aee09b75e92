import * as assert from 'uvu/assert';
import type { AnyEventObject, StateValue } from 'xstate';
import type { CpeResult, Failure, HeldPrefix, LifecycleContext, PendingStep } from '../../../machines/types.ts';
import type { LifecycleSnapshot, ScriptedError } from './model.ts';
import { INPUT } from './model.ts';
import type { Call } from './scripted-actors.ts';

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
  running: Call[];
  /** Sorted prefixes the fake IPAM holds for this lifecycle after the step. */
  ledger: string[];
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

const prefixesOf = (...ps: (HeldPrefix | null)[]) => ps.filter((p): p is HeldPrefix => p !== null);

/** Each invoked step: its actor, the input it must get (idempotency key material included) and its public failure name. */
const STEPS: Record<string, { src: string; input: (c: LifecycleContext) => unknown; failure: (c: LifecycleContext) => string | RegExp }> = {
  pending: {
    src: 'allocatePrefix',
    input: (c) => ({ lifecycleId: c.lifecycleId, subscriberId: c.subscriberId, pool: c.pool, prefixLength: c.prefixLength, generation: c.generation }),
    failure: (c) => `${c.ipam}_allocate`,
  },
  'allocated.radius': { src: 'writeRadiusReply', input: (c) => ({ username: c.username, prefix: c.held }), failure: () => 'radius_write_reply' },
  'allocated.cpe': {
    src: 'configureCpe',
    input: (c) => ({ lifecycleId: c.lifecycleId, cpeId: c.cpeId, prefix: c.held!.prefix, generation: c.generation }),
    failure: () => 'cpe_configure_pd',
  },
  'active.suspendRadius': { src: 'removeRadiusReply', input: (c) => ({ username: c.username, prefix: c.held }), failure: () => 'radius_remove_reply' },
  'active.suspendSessions': {
    src: 'notifySessions',
    input: (c) => ({ username: c.username, purpose: 'suspend', prefix: c.held!.prefix }),
    failure: () => 'radius_sessions',
  },
  'active.updateAllocate': {
    src: 'allocatePrefix',
    input: (c) => ({ lifecycleId: c.lifecycleId, subscriberId: c.subscriberId, pool: c.nextRequest!.pool, prefixLength: c.nextRequest!.prefixLength, generation: c.generation + 1 }),
    failure: (c) => `${c.nextRequest!.ipam}_allocate`,
  },
  'active.updateRadius': { src: 'writeRadiusReply', input: (c) => ({ username: c.username, prefix: c.next }), failure: () => 'radius_write_reply' },
  'active.updateSessions': {
    src: 'notifySessions',
    input: (c) => ({ username: c.username, purpose: 'update', prefix: c.next!.prefix }),
    failure: () => 'radius_sessions',
  },
  'active.updateCpe': {
    src: 'configureCpe',
    input: (c) => ({ lifecycleId: c.lifecycleId, cpeId: c.cpeId, prefix: c.next!.prefix, generation: c.generation + 1 }),
    failure: () => 'cpe_configure_pd',
  },
  // The retired prefix may belong to the previous IPAM; see the known-bug test on its failure name.
  'active.updateRelease': { src: 'releasePrefix', input: (c) => ({ lifecycleId: c.lifecycleId, prefixes: prefixesOf(c.retired) }), failure: () => /_release$/ },
  'active.updateRollback': {
    src: 'rollbackUpdate',
    input: (c) => ({ lifecycleId: c.lifecycleId, username: c.username, restore: c.held, release: c.next }),
    failure: () => 'update_rollback',
  },
  'suspended.reactivateRadius': { src: 'writeRadiusReply', input: (c) => ({ username: c.username, prefix: c.held }), failure: () => 'radius_write_reply' },
  'suspended.reactivateSessions': {
    src: 'notifySessions',
    input: (c) => ({ username: c.username, purpose: 'reactivate', prefix: c.held!.prefix }),
    failure: () => 'radius_sessions',
  },
  // Revocation gives back everything IPAM holds for the lifecycle, including a half-done update's prefixes.
  'revoking.release': { src: 'releasePrefix', input: (c) => ({ lifecycleId: c.lifecycleId, prefixes: prefixesOf(c.held, c.next, c.retired) }), failure: (c) => `${c.ipam}_release` },
  'revoking.radius': { src: 'removeRadiusReply', input: (c) => ({ username: c.username, prefix: c.held }), failure: () => 'radius_remove_reply' },
  'revoking.sessions': {
    src: 'notifySessions',
    input: (c) => ({ username: c.username, purpose: 'revoke', prefix: c.held?.prefix ?? null }),
    failure: () => 'radius_sessions',
  },
  'revoking.cpe': {
    src: 'removeCpeIpv6',
    input: (c) => ({ lifecycleId: c.lifecycleId, cpeId: c.cpeId, prefix: c.held?.prefix ?? null, generation: c.generation }),
    failure: () => 'cpe_remove_ipv6',
  },
};

/** States after revocation's IPAM step: IPAM must hold nothing for the lifecycle any more. */
const RELEASED = new Set(['revoking.radius', 'revoking.sessions', 'revoking.cpe', 'revoked']);

function stamped(r: StepRecord, field: 'allocatedAt' | 'activatedAt' | 'suspendedAt' | 'revokedAt'): void {
  const at = r.after.context[field];
  assert.ok(at !== null && at >= r.startedAt, `${field} set by this step (${at} < ${r.startedAt})`);
}

function failureMatches(f: Failure | null, error: ScriptedError, step: string | RegExp, r: StepRecord): void {
  assert.ok(f, 'failure recorded');
  if (typeof step === 'string') assert.is(f.step, step);
  else assert.match(f.step, step);
  assert.equal([f.code, f.message, f.attempts], [error.code, error.message, error.attempts]);
  assert.ok(f.at >= r.startedAt, 'failure.at is the time of the failure');
}

function expectedPending(before: PendingStep[], step: PendingStep['step'], out: CpeResult): PendingStep[] {
  const others = before.filter((p) => !p.step.startsWith('cpe_'));
  return out.status === 'queued' ? [...others, { step, attempts: 1, next_attempt_at: null, task_id: out.taskId }] : others;
}

const heldFrom = (output: unknown, pool: string, generation: number) => ({ ...(output as object), pool, generation });

/** Per transition: which context fields may change, and what they must become. Key: `<state> <done|error|EVENT>`. */
const SPECS: Record<string, { changes: Field[]; check?: Check }> = {
  'pending done': {
    changes: ['held', 'allocatedAt'],
    check: (r) => (assert.equal(r.after.context.held, heldFrom(r.event.output, r.before.context.pool, r.before.context.generation)), stamped(r, 'allocatedAt')),
  },
  'allocated.radius done': { changes: [] },
  'allocated.cpe done': {
    changes: ['pending', 'activatedAt'],
    check: (r) => (assert.equal(r.after.context.pending, expectedPending(r.before.context.pending, 'cpe_configure_pd', r.event.output)), stamped(r, 'activatedAt')),
  },
  'active.suspendRadius done': { changes: [] },
  'active.suspendSessions done': { changes: ['suspendedAt'], check: (r) => stamped(r, 'suspendedAt') },
  'active.updateAllocate done': {
    changes: ['next'],
    check: (r) => assert.equal(r.after.context.next, heldFrom(r.event.output, r.before.context.nextRequest!.pool, r.before.context.generation + 1)),
  },
  'active.updateRadius done': { changes: [] },
  'active.updateSessions done': { changes: [] },
  // The commit: the new prefix becomes current, the old one is retired until IPAM has it back.
  'active.updateCpe done': {
    changes: ['pending', 'retired', 'held', 'pool', 'prefixLength', 'ipam', 'generation', 'next', 'nextRequest', 'activatedAt'],
    check: (r) => {
      const [b, a] = [r.before.context, r.after.context];
      assert.equal(a.held, b.next);
      assert.equal(a.retired, b.held);
      assert.equal([a.pool, a.prefixLength, a.ipam, a.generation], [b.next!.pool, b.next!.prefixLength, b.nextRequest!.ipam, b.generation + 1]);
      assert.equal([a.next, a.nextRequest], [null, null]);
      assert.equal(a.pending, expectedPending(b.pending, 'cpe_configure_pd', r.event.output));
      stamped(r, 'activatedAt');
    },
  },
  'active.updateRelease done': { changes: ['retired'], check: (r) => assert.is(r.after.context.retired, null) },
  // A rollback keeps the old prefix (unchanged fields are checked for every step) and forgets the new one.
  'active.updateRollback done': { changes: ['next', 'nextRequest'], check: (r) => assert.equal([r.after.context.next, r.after.context.nextRequest], [null, null]) },
  'suspended.reactivateRadius done': { changes: [] },
  'suspended.reactivateSessions done': {
    changes: ['activatedAt', 'reason'],
    check: (r) => (assert.is(r.after.context.reason, null), stamped(r, 'activatedAt')),
  },
  'revoking.release done': { changes: [] },
  'revoking.radius done': { changes: [] },
  'revoking.sessions done': { changes: [] },
  'revoking.cpe done': {
    changes: ['pending', 'next', 'nextRequest', 'retired', 'revokedAt'],
    check: (r) => {
      const a = r.after.context;
      assert.equal([a.next, a.nextRequest, a.retired], [null, null, null]);
      assert.equal(a.pending, expectedPending(r.before.context.pending, 'cpe_remove_ipv6', r.event.output));
      stamped(r, 'revokedAt');
    },
  },
  // Nothing was allocated, so the lifecycle stays active on its current prefix.
  'active.updateAllocate error': {
    changes: ['lastError', 'nextRequest'],
    check: (r) => (failureMatches(r.after.context.lastError, r.event.error, `${r.before.context.nextRequest!.ipam}_allocate`, r), assert.is(r.after.context.nextRequest, null)),
  },
  'ACTIVATE': { changes: ['username', 'cpeId'], check: (r) => assert.equal([r.after.context.username, r.after.context.cpeId], [r.event.username, r.event.cpeId]) },
  'SUSPEND': { changes: ['reason'], check: (r) => assert.is(r.after.context.reason, r.event.reason) },
  'REACTIVATE': { changes: [] },
  'UPDATE': {
    changes: ['nextRequest', 'lastError'],
    check: (r) => assert.equal([r.after.context.nextRequest, r.after.context.lastError], [{ pool: r.event.pool, prefixLength: r.event.prefixLength, ipam: r.event.ipam }, null]),
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

function specFor(from: string, to: string, event: AnyEventObject): { changes: Field[]; check?: Check } {
  const kind = event.type.startsWith('xstate.done.actor.') ? 'done' : event.type.startsWith('xstate.error.actor.') ? 'error' : event.type;
  if (kind === 'error' && to === 'failed') {
    return { changes: ['failure', 'failedAt'], check: (r) => failureMatches(r.after.context.failure, r.event.error, STEPS[from]!.failure(r.before.context), r) };
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
  assert.equal([c.held, c.generation, c.pending, c.failure], [null, 0, [], null]);
  assert.equal([c.allocatedAt, c.activatedAt, c.suspendedAt, c.revokedAt], [null, null, null, null]);
}

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
  }

  assert.is(to === 'failed', r.after.context.failure !== null && r.after.context.failedAt !== null, 'failed ⇔ failure recorded');
  checkLedger(r, to);
}

/**
 * IPAM holds exactly what the context says (nothing leaks, nothing is forgotten), except that
 * revocation may already have given back what `held` still names, and must have once past IPAM.
 */
function checkLedger(r: StepRecord, to: string): void {
  const c = r.after.context;
  const known = prefixesOf(c.held, c.next, c.retired).map((p) => p.prefix).sort();
  const where = to === 'failed' ? (r.failed?.state ?? to) : to;
  if (RELEASED.has(where)) assert.equal(r.ledger, [], `IPAM holds nothing once ${where} is reached`);
  else if (where.startsWith('revoking.')) assert.ok(r.ledger.every((p) => known.includes(p)), `IPAM holds only known prefixes in ${where}`);
  else assert.equal(r.ledger, known, `IPAM holds what the context names in ${where}`);
}
