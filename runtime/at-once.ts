// A new lifecycle whose allocation settles at once, without an actor. When the pool's IPAM allocates
// synchronously on the store's own database (the embedded IPAM), the host computes the machine's
// snapshots with XState's pure transition functions, inside the group commit's transaction: the
// IPAM row (keyed by the step key), the `allocated` row and both audit entries are one commit, so
// no crash can fall between the allocation and the snapshot that records it. The snapshots are the
// ones an actor would have taken: the same machine, the same events, the same stamped output.
import { createActor, type AnyActorScope } from 'xstate';
import type { PrefixLifecycleMachine } from '../machines/prefix-lifecycle.ts';
import type { AllocateInput, Allocation, LifecycleInput, Stamped } from '../machines/types.ts';
import type { AuditEntry, LifecycleRow } from '../store/lifecycles.ts';
import { auditDetail, auditType, type AuditDetail, type AuditFrom } from './audit.ts';
import { sameRow, statePath, toRow, type LifecycleSnapshot } from './projection.ts';

/** The allocation step made synchronously (runtime/step-actors.ts `createAllocateNow`). */
export type AllocateNow = (input: AllocateInput) => { output: Stamped<Allocation>; report(): void } | null;

/** One persisted transition: the row, its audit entry, and the detail the log line shows. */
export interface Transition {
  row: LifecycleRow;
  audit: AuditEntry;
  detail: AuditDetail;
  previous: LifecycleRow | null;
  /** Where the next audit entry leaves from. */
  from: AuditFrom;
}

/** In place of a persisted snapshot: the row is only reported, never stored, and its `snapshot` is empty. */
export const NOT_STORED = Symbol('not stored');

/** The transition `event` made into `snapshot`, or null when the row would not change. */
export function transitionOf(
  previous: LifecycleRow | null,
  from: AuditFrom | null,
  event: { type: string },
  snapshot: LifecycleSnapshot,
  persisted: unknown,
  now: string,
): Transition | null {
  const row = toRow(snapshot, persisted, previous?.created_at ?? now, now, persisted !== NOT_STORED);
  // The snapshot leaves out what the columns hold: the whole row says whether anything changed.
  if (previous && sameRow(previous, row)) return null;
  const path = statePath(snapshot);
  const detail = auditDetail(event, from, path, snapshot);
  const audit: AuditEntry = {
    lifecycle_id: row.id,
    subscriber_id: row.subscriber_id,
    at: now,
    type: auditType(event),
    from_state: previous?.state ?? null,
    to_state: row.state,
    detail: JSON.stringify(detail),
  };
  return { row, audit, detail, previous, from: { path, context: snapshot.context } };
}

/**
 * XState's `initialTransition()`/`transition()` build a throwaway actor (and run the machine's initial
 * transition once more) on every call; the scope they hand the machine is inert, so one per machine
 * does: nothing is ever started in it (a child is registered with the system only when started).
 */
interface Inert {
  scope: AnyActorScope;
  actions: { type: string; params?: unknown }[];
}
const inertScopes = new WeakMap<PrefixLifecycleMachine, Inert>();
function inertScope(machine: PrefixLifecycleMachine): Inert {
  let inert = inertScopes.get(machine);
  if (inert) return inert;
  const self = createActor(machine as never, {} as never);
  const actions: Inert['actions'] = [];
  const noop = () => {};
  const scope = { self, defer: noop, id: '', logger: noop, sessionId: '', stopChild: noop, system: self.system, emit: noop, actionExecutor: (a: Inert['actions'][number]) => actions.push(a) };
  inert = { scope: scope as unknown as AnyActorScope, actions };
  inertScopes.set(machine, inert);
  return inert;
}

/** What `allocateAtOnce` made: both transitions (created, then allocated) and the settled snapshot. */
export interface AtOnce {
  transitions: [Transition, Transition];
  snapshot: LifecycleSnapshot;
  report(): void;
}

/**
 * Creates the lifecycle and runs its allocation step at once, or returns null when that is not how
 * this one goes (the IPAM cannot allocate synchronously, or the machine would not settle with the
 * allocation); throws what the allocation threw. Call it inside the store transaction that stores
 * what it returns.
 */
export function allocateAtOnce(machine: PrefixLifecycleMachine, input: LifecycleInput, allocateNow: AllocateNow): AtOnce | null {
  const { scope, actions } = inertScope(machine);
  actions.length = 0;
  const created = machine.getInitialSnapshot(scope, input);
  const spawn = actions.find((a) => a.type === 'xstate.spawnChild') as { params?: { id?: string; src?: unknown; input?: unknown } } | undefined;
  const id = spawn?.params?.id;
  if (created.value !== 'pending' || !id || spawn.params?.src !== 'allocatePrefix') return null;
  const made = allocateNow(spawn.params.input as AllocateInput);
  if (!made) return null;
  const init = { type: 'xstate.init', input };
  const done = { type: `xstate.done.actor.${id}`, output: made.output, actorId: id };
  const allocated = machine.transition(created, done as never, scope);
  actions.length = 0;
  if (allocated.status !== 'active' || allocated.hasTag('busy')) return null;
  // The rows' times are the host's clock, as for an actor's snapshots; the step's own time is in its output.
  const now = new Date().toISOString();
  // The created row is never stored (the allocated one is, in the same transaction): its snapshot is not encoded.
  const first = transitionOf(null, null, init, created, NOT_STORED, now)!;
  const second = transitionOf(first.row, first.from, done, allocated, machine.getPersistedSnapshot(allocated), now);
  if (!second) return null;
  return { transitions: [first, second], snapshot: allocated, report: made.report };
}
