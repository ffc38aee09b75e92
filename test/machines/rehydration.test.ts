import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { TestPath } from '@xstate/graph';
import type { AnyEventObject, AnyStateNode, Snapshot } from 'xstate';
import { prefixLifecycle } from '../../machines/prefix-lifecycle.ts';
import type { LifecycleContext } from '../../machines/types.ts';
import { toRow } from '../../runtime/projection.ts';
import { decodeSnapshot } from '../../store/snapshot-codec.ts';
import { pathOf } from './support/expectations.ts';
import { createLifecycleModel, modelEvents } from './support/model.ts';
import type { LifecycleSnapshot } from './support/model.ts';
import { apply, finishStep, flush, isOutcome, replay, startLifecycle } from './support/run-path.ts';
import type { Lifecycle } from './support/run-path.ts';

// A process that dies mid-step restarts from the last persisted snapshot. The restored actor must
// not redo what the snapshot already records, and must redo the step that was in flight, with the
// same input: that input is the step's idempotency key material (lifecycle id + generation).

type Path = TestPath<LifecycleSnapshot, AnyEventObject>;

/** The shortest model path to each state (failed: to each failed step), so every invoked step is restored once. */
function pathsByState(): Map<string, Path> {
  const all = createLifecycleModel().getShortestPaths({ allowDuplicatePaths: true });
  const byState = new Map<string, Path>();
  for (const path of all.sort((a, b) => a.steps.length - b.steps.length)) {
    const c = path.state.context;
    const key = path.state.matches('failed') ? `failed at ${c.failedAt}` : pathOf(path.state.value);
    if (!byState.has(key)) byState.set(key, path);
  }
  return byState;
}

/** The snapshot as the store keeps it: encoded against its row's columns, then decoded (store/snapshot-codec.ts). */
function persist(lc: Lifecycle): Snapshot<unknown> & { value: unknown; context: LifecycleContext } {
  const plain = JSON.parse(JSON.stringify(lc.actor.getPersistedSnapshot()));
  const at = '2026-01-01T00:00:00.000Z';
  const decoded = decodeSnapshot(toRow(lc.actor.getSnapshot(), plain, at, at));
  assert.equal(decoded, plain, 'the stored encoding gives the persisted snapshot back exactly');
  return decoded as Snapshot<unknown> & { value: unknown; context: LifecycleContext };
}

async function restore(original: Lifecycle) {
  const persisted = persist(original);
  const restored = startLifecycle(persisted);
  await flush();
  const now = restored.actor.getSnapshot();
  assert.equal(now.value, persisted.value, 'same state');
  assert.equal(now.context, persisted.context, 'same data: no assign replayed, timestamps unchanged');
  assert.equal(restored.takeEdges(), [], 'no transition replayed');
  return restored;
}

/** Both actors take the same next step; the restored one must end where the uninterrupted one does. */
async function continueBoth(original: Lifecycle, restored: Lifecycle, step: (lc: Lifecycle) => Promise<unknown>) {
  original.takeEdges();
  const [o, r] = [original.steps.calls.length, restored.steps.calls.length];
  await step(original);
  await step(restored);
  const [a, b] = [original.actor.getSnapshot(), restored.actor.getSnapshot()];
  assert.equal(b.value, a.value, 'same next state');
  assert.equal(restored.takeEdges(), original.takeEdges(), 'same transition');
  // The machine has no clock: timestamps come with the steps' results, so the data matches exactly.
  assert.equal(b.context, a.context, 'same data');
  const started = (lc: Lifecycle, from: number) => lc.steps.calls.slice(from).map((c) => [c.src, c.input]);
  assert.equal(started(restored, r), started(original, o), 'same next step, same input');
}

const paths = pathsByState();
const busy = [...paths].filter(([, p]) => p.state.hasTag('busy'));
const settled = [...paths].filter(([, p]) => !p.state.hasTag('busy'));

const inFlight = suite('prefixLifecycle restored while a step is in flight');

inFlight('every invoked step is covered', () => {
  const nodes = (n: AnyStateNode): AnyStateNode[] => [n, ...Object.values(n.states).flatMap((c) => nodes(c as AnyStateNode))];
  const invoking = nodes(prefixLifecycle.root).filter((n) => n.invoke.length > 0).map((n) => n.path.join('.'));
  assert.equal(busy.map(([state]) => state).sort(), invoking.sort());
});

for (const [state, path] of busy) {
  inFlight(`in ${state}: the step runs again with the same input, then the lifecycle carries on`, async () => {
    const original = await replay(path);
    const [call] = original.steps.outstanding();
    assert.ok(call, `a step is running in ${state}`);
    const restored = await restore(original);

    assert.equal(restored.steps.calls.map((c) => [c.id, c.src]), [[call.id, call.src]], 'only the interrupted step runs');
    const again = restored.steps.calls[0]!.input as Record<string, unknown>;
    assert.equal(again, call.input);
    if ('generation' in again) {
      const before = call.input as Record<string, unknown>;
      assert.equal([again.lifecycleId, again.generation], [before.lifecycleId, before.generation], 'same idempotency key');
    }

    await continueBoth(original, restored, (lc) => finishStep(lc, 'ok'));
    original.actor.stop();
    restored.actor.stop();
  });
}

inFlight.run();

const idle = suite('prefixLifecycle restored in a settled state');

for (const [state, path] of settled) {
  idle(`in ${state}: nothing is invoked, and the next event is handled as before`, async () => {
    const original = await replay(path);
    assert.equal(original.steps.outstanding(), []);
    const restored = await restore(original);
    assert.equal(restored.steps.calls, [], 'no step ran on restore');

    const next = modelEvents(original.actor.getSnapshot()).find((e) => !isOutcome(e));
    if (next) await continueBoth(original, restored, (lc) => apply(lc, next));
    original.actor.stop();
    restored.actor.stop();
  });
}

idle.run();
