import { TestModel } from '@xstate/graph';
import type { AnyEventObject, AnyStateNode, SnapshotFrom } from 'xstate';
import { prefixLifecycle } from '../../../machines/prefix-lifecycle.ts';
import type { AllocateInput, Allocation, LifecycleContext, LifecycleEvent, LifecycleInput } from '../../../machines/types.ts';
import type { ErrorCode } from '../../../services/errors.ts';
import { edgesTaken } from './edges.ts';

export type LifecycleSnapshot = SnapshotFrom<typeof prefixLifecycle>;

export const INPUT: LifecycleInput = {
  lifecycleId: 'lc-0001',
  subscriberId: 'sub-0001',
  pool: 'residential',
  prefixLength: 56,
  ipam: 'embedded',
};

/** A move to another pool, IPAM and length, so that a commit visibly changes all three. */
export const UPDATE: Extract<LifecycleEvent, { type: 'UPDATE' }> = { type: 'UPDATE', pool: 'business', prefixLength: 48, ipam: 'netbox' };

/** What a step's fake throws: the JSON-safe fields that `failureFrom` reads off a `ServiceError`, stamped by the runtime. */
export interface ScriptedError {
  code: ErrorCode;
  message: string;
  attempts: number;
  at: string;
}

/**
 * The runtime's clock, as the machine reads it from step outputs and errors: one distinct time per
 * step actor, so a timestamp taken from the wrong step shows.
 */
export const clockOf = (src: string, failed = false) =>
  new Date(Date.UTC(2030, 0, 1, 0, SOURCE_ORDER.indexOf(src) + 1, failed ? 30 : 0)).toISOString();
const SOURCE_ORDER = ['allocatePrefix', 'releasePrefix', 'freePrefix', 'writeRadiusReply', 'removeRadiusReply', 'notifySessions', 'configureCpe', 'restoreCpe', 'removeCpeIpv6'];

/** A step's result as the runtime hands it over: stamped with the time it came. */
export const stamped = (src: string, result: unknown) => ({ at: clockOf(src), result });

/** The invocation an active state runs: its id as XState names it (`<index>.<state node id>`) and its input. */
export interface Invocation {
  id: string;
  src: string;
  /** State path relative to the machine, e.g. `active.updateRadius`. */
  state: string;
  input: unknown;
}

/** Deterministic, distinct per pool and generation, so a test can tell an old prefix from a new one. */
export function allocationFor(input: AllocateInput): Allocation {
  const netbox = input.pool === UPDATE.pool;
  return {
    prefix: `2001:db8:${input.generation + 1}${netbox ? 'b' : 'a'}00::/${input.prefixLength}`,
    prefixLength: input.prefixLength,
    netboxPrefixId: netbox ? 4000 + input.generation : null,
  };
}

/** IPAM said no for certain: nothing was taken under the key. */
export const REFUSED: ScriptedError = { code: 'pool_exhausted', message: 'no free prefix', attempts: 1, at: clockOf('allocatePrefix', true) };
/** No answer: the machine cannot tell whether IPAM took a block under the key. */
export const NO_REPLY: ScriptedError = { code: 'timeout', message: 'no reply from IPAM', attempts: 3, at: clockOf('allocatePrefix', true) };

/** The errors each step can end with; the first is what `finishStep(lc, 'fail')` uses. */
export function errorsFor(src: string): ScriptedError[] {
  if (src === 'allocatePrefix') return [REFUSED, NO_REPLY];
  const down: ScriptedError = { code: 'upstream_unavailable', message: `${src}: upstream down`, attempts: 3, at: clockOf(src, true) };
  // A refusal proves the write did nothing: an update's rollback must not undo it (only what ran before).
  if (src === 'writeRadiusReply' || src === 'configureCpe') return [down, { code: 'upstream_rejected', message: `${src}: refused`, attempts: 1, at: clockOf(src, true) }];
  return [down];
}

/** Every outcome worth telling apart: CPE commands either apply at once or queue for an offline CPE. */
export function outputsFor(src: string, input: unknown): unknown[] {
  return resultsFor(src, input).map((result) => stamped(src, result));
}

function resultsFor(src: string, input: unknown): unknown[] {
  switch (src) {
    case 'allocatePrefix':
      return [allocationFor(input as AllocateInput)];
    case 'notifySessions':
      return [[{ sessionId: 'acct-1', nas: 'bng-1', result: 'ack', errorCause: null }]];
    case 'configureCpe':
    case 'restoreCpe':
      return [{ status: 'done' }, { status: 'queued', taskId: 'task-configure' }];
    case 'removeCpeIpv6':
      return [{ status: 'done' }, { status: 'queued', taskId: 'task-remove' }];
    default:
      return [undefined];
  }
}

/** An adopted prefix, the same whichever state the field has it in. */
export const importOf = (state: 'allocated' | 'active' | 'suspended'): LifecycleEvent => ({
  type: 'IMPORT',
  state,
  prefix: { prefix: '2001:db8:ff00::/56', prefixLength: 56, netboxPrefixId: 77 },
  pool: 'residential',
  ipam: 'netbox',
  username: state === 'allocated' ? null : 'carol@isp.example',
  cpeId: state === 'allocated' ? null : '00D09E-HGW-0077',
  at: '2030-01-01T00:30:00.000Z',
  sources: state === 'allocated' ? ['netbox'] : ['netbox', 'radreply'],
});

const USER_EVENTS: LifecycleEvent[] = [
  importOf('active'),
  importOf('suspended'),
  importOf('allocated'),
  { type: 'ACTIVATE', username: 'alice@isp.example', cpeId: '00D09E-HGW-0001' },
  // A subscriber without a managed CPE: nothing to configure, but every step still runs.
  { type: 'ACTIVATE', username: 'bob@isp.example', cpeId: null },
  { type: 'SUSPEND', reason: 'unpaid' },
  { type: 'REACTIVATE' },
  UPDATE,
  { type: 'REVOKE', reason: 'contract ended' },
  { type: 'RETRY' },
];

function pendingEvents(ctx: LifecycleContext): LifecycleEvent[] {
  return ctx.pending.flatMap((p): LifecycleEvent[] => [
    { type: 'PENDING_RESOLVED', step: p.step },
    { type: 'PENDING_DEFERRED', step: p.step, next_attempt_at: '2030-01-01T00:05:00.000Z' },
  ]);
}

/** The invocations of the active states, with the input the machine computed for each. */
export function invocationsOf(snapshot: LifecycleSnapshot): Invocation[] {
  const children = snapshot.children as Record<string, { getSnapshot(): { input?: unknown } } | undefined>;
  return (snapshot._nodes as AnyStateNode[]).flatMap((node) =>
    node.invoke.map((inv) => ({
      id: inv.id,
      src: String(inv.src),
      state: node.path.join('.'),
      input: children[inv.id]?.getSnapshot().input,
    })),
  );
}

/**
 * The worst case of an allocation without an answer: IPAM did take the block, only the reply was
 * lost. `settle` applies `lostOutput` to the IPAM ledger before failing the step.
 */
function lostOutput(inv: Invocation, error: ScriptedError): { lostOutput?: Allocation } {
  return inv.src === 'allocatePrefix' && error === NO_REPLY ? { lostOutput: allocationFor(inv.input as AllocateInput) } : {};
}

/**
 * The events a snapshot can take: the user's, plus the done/error events of each running
 * invocation — in the model, an invoked step's outcome is just another event.
 */
export function modelEvents(snapshot: LifecycleSnapshot): AnyEventObject[] {
  const outcomes = invocationsOf(snapshot).flatMap((inv) => [
    ...outputsFor(inv.src, inv.input).map((output) => ({ type: `xstate.done.actor.${inv.id}`, output, actorId: inv.id })),
    ...errorsFor(inv.src).map((error) => ({ type: `xstate.error.actor.${inv.id}`, error, actorId: inv.id, ...lostOutput(inv, error) })),
  ]);
  const user = [...USER_EVENTS, ...pendingEvents(snapshot.context)].filter((e) => snapshot.can(e));
  return [...outcomes, ...user];
}

/** What decides the machine's future moves and the data worth checking; timestamps and ids are left out. */
function essence(snapshot: LifecycleSnapshot): string {
  const c = snapshot.context;
  return JSON.stringify({
    value: snapshot.value,
    failedAt: c.failedAt,
    cpe: c.cpeId !== null,
    holds: [c.current && 'current', c.next && 'next', c.retired && 'retired'].filter(Boolean),
    compensations: c.compensations,
    // An attempt to give back changes what release and rollback must do, so it is a state of its own
    // (a yes/no: a machine that piles attempts up must still give a finite graph, and fail its paths).
    unconfirmed: c.unconfirmed.length > 0,
    pending: c.pending.map((p) => (p.attempts > 1 ? `${p.step} (deferred)` : p.step)),
  });
}

/**
 * A vertex is a state *and the transition that led to it*: a state reached by two transitions is
 * two vertices, so the shortest path to each vertex ends with its transition and every edge lands
 * on some path, without keeping the whole history (which would never converge).
 * Two things the transition alone does not show count too, so each lands on a path of its own:
 * which error ended the step (a refusal and a lost reply must both be run, whatever the machine
 * makes of them), and whether the transition had an attempt to give back (an adopting allocation,
 * a release or a rollback that must return it).
 */
export function serializeState(snapshot: LifecycleSnapshot, event?: AnyEventObject, prev?: LifecycleSnapshot): string {
  // Failure reports call this without `prev`; the traversal always passes both or neither.
  const via = !event ? 'start' : prev ? edgesTaken(prev, event).join(' + ') : event.type;
  const error = event?.type.startsWith('xstate.error.actor.') ? ` (${(event.error as ScriptedError).code})` : '';
  const carrying = prev && prev.context.unconfirmed.length > 0 ? ' with an unconfirmed attempt' : '';
  return `${essence(snapshot)} via ${via}${error}${carrying}`;
}

/** `createTestModel` refuses machines that invoke; a plain `TestModel` walks it with our events. */
export function createLifecycleModel() {
  // The cast: the model feeds `xstate.done/error.actor.*` events, which the machine's event type leaves out.
  return new TestModel<LifecycleSnapshot, AnyEventObject, LifecycleInput>(
    prefixLifecycle as never,
    { events: modelEvents, serializeState, input: INPUT },
  );
}
