// A new lifecycle whose allocation settles at once, without an actor. When the pool's IPAM allocates
// synchronously on the store's own database (the embedded IPAM), the host computes the machine's
// snapshots with XState's pure transition functions, inside the group commit's transaction: the
// IPAM row (keyed by the step key), the `allocated` row and both audit entries are one commit, so
// no crash can fall between the allocation and the snapshot that records it. The snapshots are the
// ones an actor would have taken: the same machine, the same events, the same stamped output.
// Once checked against XState (`checkedTemplate`), they are filled in from a template instead of
// computed by XState per allocation (runtime/allocation-template.ts): ~40 µs of XState less each.
import { isDeepStrictEqual } from 'node:util';
import { createActor, type AnyActorScope } from 'xstate';
import type { PrefixLifecycleMachine } from '../machines/prefix-lifecycle.ts';
import type { AllocateInput, Allocation, LifecycleInput, Stamped } from '../machines/types.ts';
import type { AuditEntry, LifecycleRow } from '../store/lifecycles.ts';
import { auditDetail, auditType, type AuditDetail, type AuditFrom } from './audit.ts';
import { allocatedFrom, createdFrom, templateOf, type AllocationTemplate, type SnapshotView } from './allocation-template.ts';
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
  snapshot: SnapshotView,
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

/** What `allocateAtOnce` made: both transitions (created, then allocated) and the settled snapshot (the answer's context). */
export interface AtOnce {
  transitions: [Transition, Transition];
  snapshot: Pick<LifecycleSnapshot, 'value' | 'context'>;
  report(): void;
}

export interface AtOnceOptions {
  /** Fill the snapshots in from this template (`checkedTemplate`) instead of running XState; null or absent: XState. */
  template?: AllocationTemplate | null;
  /** The rows' and the audit entries' time (the host's clock). */
  now?: () => string;
}

/** Both snapshots of an allocation made at once, however computed, and the allocated one's persisted form. */
interface Made {
  created: SnapshotView;
  allocated: SnapshotView;
  persisted: unknown;
  done: { type: string; output: unknown };
  report(): void;
}

const isoNow = () => new Date().toISOString();

/** The two snapshots by XState's pure transition functions; null when the machine does not start and settle so. */
function viaXState(machine: PrefixLifecycleMachine, input: LifecycleInput, allocateNow: AllocateNow): (Made & { childId: string }) | null {
  const { scope, actions } = inertScope(machine);
  actions.length = 0;
  const created = machine.getInitialSnapshot(scope, input);
  const spawn = actions.find((a) => a.type === 'xstate.spawnChild') as { params?: { id?: string; src?: unknown; input?: unknown } } | undefined;
  const id = spawn?.params?.id;
  if (created.value !== 'pending' || !id || spawn.params?.src !== 'allocatePrefix') return null;
  const made = allocateNow(spawn.params.input as AllocateInput);
  if (!made) return null;
  const done = { type: `xstate.done.actor.${id}`, output: made.output, actorId: id };
  const allocated = machine.transition(created, done as never, scope);
  actions.length = 0;
  if (allocated.status !== 'active' || allocated.hasTag('busy')) return null;
  return { created, allocated, persisted: machine.getPersistedSnapshot(allocated), done, report: made.report, childId: id };
}

/** The two snapshots filled in from the template: no XState. */
function fromTemplate(t: AllocationTemplate, input: LifecycleInput, allocateNow: AllocateNow): Made | null {
  const { created, allocateInput } = createdFrom(t, input);
  const made = allocateNow(allocateInput);
  if (!made) return null;
  return { created, ...allocatedFrom(t, created, made.output), report: made.report };
}

/**
 * Creates the lifecycle and runs its allocation step at once, or returns null when that is not how
 * this one goes (the IPAM cannot allocate synchronously, or the machine would not settle with the
 * allocation); throws what the allocation threw. Call it inside the store transaction that stores
 * what it returns.
 */
export function allocateAtOnce(machine: PrefixLifecycleMachine, input: LifecycleInput, allocateNow: AllocateNow, opts: AtOnceOptions = {}): AtOnce | null {
  const made = opts.template ? fromTemplate(opts.template, input, allocateNow) : viaXState(machine, input, allocateNow);
  if (!made) return null;
  const { created, allocated, persisted, done } = made;
  // The rows' times are the host's clock, as for an actor's snapshots; the step's own time is in its output.
  const now = (opts.now ?? isoNow)();
  // The created row is never stored (the allocated one is, in the same transaction): its snapshot is not encoded.
  const init = { type: 'xstate.init', input };
  const first = transitionOf(null, null, init, created, NOT_STORED, now)!;
  const second = transitionOf(first.row, first.from, done, allocated, persisted, now);
  if (!second) return null;
  return { transitions: [first, second], snapshot: { value: allocated.value, context: allocated.context }, report: made.report };
}

/**
 * The allocations the start-up check makes both ways: the default IPAM's answer, and another IPAM's
 * of another length with a NetBox id (what the stored snapshot keeps besides its columns differs).
 */
const CANARIES: { input: LifecycleInput; output: Stamped<Allocation> }[] = [
  {
    input: { lifecycleId: '00000000-0000-7000-8000-00000000ca7a', subscriberId: 'canary', pool: 'canary', prefixLength: 56, ipam: 'embedded' },
    output: { at: '2000-01-01T00:00:00.000Z', result: { prefix: '2001:db8::/56', prefixLength: 56, netboxPrefixId: null } },
  },
  {
    input: { lifecycleId: '00000000-0000-7000-8000-00000000ca7b', subscriberId: 'canary "two" é', pool: 'canary-2', prefixLength: 48, ipam: 'netbox' },
    output: { at: '2000-01-02T00:00:00.001Z', result: { prefix: '2001:db8:1::/56', prefixLength: 56, netboxPrefixId: 7 } },
  },
];

/** Everything an allocation made at once gives out, as JSON (key order counts: the stored bytes follow it). */
const outcomeOf = (made: AtOnce | null, asked: AllocateInput[]) =>
  made && { transitions: made.transitions, value: made.snapshot.value, context: made.snapshot.context, asked };

/** Where two outcomes' JSON first differs (with isDeepStrictEqual for what JSON cannot show), or null when they are the same. */
function difference(a: unknown, b: unknown): string | null {
  const [x, y] = [JSON.stringify(a) ?? 'undefined', JSON.stringify(b) ?? 'undefined'];
  if (x === y) return isDeepStrictEqual(a, b) ? null : 'the same JSON, other values (undefined, a Date, a prototype)';
  let at = 0;
  while (x[at] === y[at]) at++;
  const near = (s: string) => s.slice(Math.max(0, at - 60), at + 60);
  return `XState: …${near(x)}… template: …${near(y)}…`;
}

/**
 * The template of `machine`'s allocation made at once, checked: the canaries are made both ways, and
 * the template is given only when every row, audit entry, detail, context and step input is the
 * same, byte for byte. Otherwise `mismatch` says where they differ, and allocations go through XState.
 * A machine that does not allocate at once at all gets neither (XState's path says null each time).
 */
export function checkedTemplate(machine: PrefixLifecycleMachine): { template: AllocationTemplate | null; mismatch: string | null } {
  const noop = () => {};
  const [first] = CANARIES;
  const xs = viaXState(machine, first!.input, () => ({ output: first!.output, report: noop }));
  if (!xs) return { template: null, mismatch: null };
  const template = templateOf(xs.created as LifecycleSnapshot, xs.allocated as LifecycleSnapshot, xs.childId, xs.persisted as object);
  for (const { input, output } of CANARIES) {
    const [byXState, byTemplate] = [null, template].map((t) => {
      const asked: AllocateInput[] = [];
      const made = allocateAtOnce(machine, input, (a) => (asked.push(a), { output, report: noop }), { template: t, now: () => output.at });
      return outcomeOf(made, asked);
    });
    const mismatch = difference(byXState, byTemplate);
    if (mismatch) return { template: null, mismatch: `canary ${input.lifecycleId}: ${mismatch}` };
  }
  return { template, mismatch: null };
}
