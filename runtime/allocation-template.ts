// The allocation made at once (runtime/at-once.ts) without running XState per allocation. A new
// lifecycle's first two snapshots differ from one allocation to the next only in their context:
// the states, tags, child id and the persisted snapshot's other fields are the machine's, the same
// every time. So XState computes one canary allocation at start-up; what does not depend on the
// input is kept here (the template), and each allocation fills in its contexts with the machine's
// own context functions (machines/context.ts), as the chart's actions would. at-once.ts checks a
// filled-in canary against XState's before the template is used (`checkedTemplate`), and
// test/runtime/allocation-template.test.ts compares the two on many generated allocations.
import { allocated as allocatedPatch, initialContext } from '../machines/context.ts';
import { firstAllocation } from '../machines/inputs.ts';
import type { AllocateInput, Allocation, LifecycleContext, LifecycleInput, Stamped } from '../machines/types.ts';
import type { LifecycleSnapshot } from './projection.ts';

/** What the rows, the audit entries and the answer read of a snapshot (runtime/projection.ts `toRow`, `statePath`). */
export type SnapshotView = Pick<LifecycleSnapshot, 'value' | 'context' | 'hasTag'>;

/** What XState's canary allocation gives that does not depend on the allocation. */
export interface AllocationTemplate {
  /** The state values of the created (`pending`) and the allocated snapshot. */
  createdValue: LifecycleSnapshot['value'];
  allocatedValue: LifecycleSnapshot['value'];
  createdTags: ReadonlySet<string>;
  allocatedTags: ReadonlySet<string>;
  /** The spawned allocation's id: the done event is `xstate.done.actor.<id>`. */
  childId: string;
  /** The persisted allocated snapshot's fields in their order, `context` where the context goes. */
  persisted: readonly (readonly [string, unknown])[];
}

/** The template of a canary's two XState snapshots and the allocated one's persisted form. */
export function templateOf(created: LifecycleSnapshot, allocated: LifecycleSnapshot, childId: string, persisted: object): AllocationTemplate {
  return {
    createdValue: created.value,
    allocatedValue: allocated.value,
    createdTags: new Set(created.tags),
    allocatedTags: new Set(allocated.tags),
    childId,
    persisted: Object.entries(persisted),
  };
}

const viewOf = (value: LifecycleSnapshot['value'], context: LifecycleContext, tags: ReadonlySet<string>): SnapshotView => ({
  value,
  context,
  hasTag: (tag: string) => tags.has(tag),
});

/** The created lifecycle and what its allocation step is asked (the machine's `pending` invocation input). */
export function createdFrom(t: AllocationTemplate, input: LifecycleInput): { created: SnapshotView; allocateInput: AllocateInput } {
  const context = initialContext(input);
  return { created: viewOf(t.createdValue, context, t.createdTags), allocateInput: firstAllocation({ context }) };
}

/** The allocated lifecycle once its step answered `output`, its persisted snapshot and the event that took it there. */
export function allocatedFrom(t: AllocationTemplate, created: SnapshotView, output: Stamped<Allocation>) {
  // As XState's `assign` does: the context's own keys in their order, the action's patch over them.
  const context: LifecycleContext = { ...created.context, ...allocatedPatch(created.context, output) };
  const persisted: Record<string, unknown> = {};
  for (const [key, value] of t.persisted) persisted[key] = key === 'context' ? context : value;
  const done = { type: `xstate.done.actor.${t.childId}`, output, actorId: t.childId };
  return { allocated: viewOf(t.allocatedValue, context, t.allocatedTags), persisted, done };
}
