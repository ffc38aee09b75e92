import * as assert from 'uvu/assert';
import type { TestPath } from '@xstate/graph';
import { createActor } from 'xstate';
import type { Actor, AnyEventObject, InspectionEvent, Snapshot } from 'xstate';
import { prefixLifecycle } from '../../../machines/prefix-lifecycle.ts';
import { edgeIdOf, edgesTaken } from './edges.ts';
import { checkStep, pathOf } from './expectations.ts';
import type { FailedStep } from './expectations.ts';
import { INPUT, errorsFor, outputsFor } from './model.ts';
import type { LifecycleSnapshot, ScriptedError } from './model.ts';
import { createScriptedActors } from './scripted-actors.ts';
import type { Call, ScriptedActors } from './scripted-actors.ts';

/** Lets promise callbacks and the actor's mailbox run to completion. */
export const flush = () => new Promise<void>((resolve) => setImmediate(resolve));

export const isOutcome = (e: AnyEventObject) => /^xstate\.(done|error)\.actor\./.test(e.type);

/** A real actor of the machine with scripted step actors, recording the transitions it takes. */
export interface Lifecycle {
  actor: Actor<typeof prefixLifecycle>;
  steps: ScriptedActors;
  /** Edge ids taken since the last `takeEdges()`. */
  takeEdges(): string[];
}

export function startLifecycle(snapshot?: Snapshot<unknown>, steps: ScriptedActors = createScriptedActors()): Lifecycle {
  let edges: string[] = [];
  const inspect = (ev: InspectionEvent) => {
    if (ev.type === '@xstate.microstep') edges.push(...ev._transitions.map(edgeIdOf));
  };
  // The fakes' outputs come from the script, not from their types, hence the cast.
  const machine = prefixLifecycle.provide({ actors: steps.actors as never });
  // With a snapshot, XState restores it and ignores `input` (which its types still require).
  const actor = createActor(machine, { snapshot, input: INPUT, inspect });
  actor.start();
  return { actor, steps, takeEdges: () => edges.splice(0) };
}

/** Feeds one model event to the real actor: user events are sent, step outcomes end the step's promise. */
export async function apply(lc: Lifecycle, event: AnyEventObject): Promise<Call | null> {
  // Adoption marks the prefix in IPAM before the lifecycle takes IMPORT (services/adoption/apply.ts).
  if (event.type === 'IMPORT') lc.steps.ledger.set((event.prefix as { prefix: string }).prefix, 0);
  // The pending worker resolves a pending release once IPAM has the blocks back (runtime/pending-worker.ts).
  if (event.type === 'PENDING_RESOLVED') {
    const given = lc.actor.getSnapshot().context.pending.find((p) => p.step === event.step)?.release;
    given?.prefixes.forEach((p) => lc.steps.ledger.delete(p.prefix));
    given?.unconfirmed.forEach((a) => [...lc.steps.ledger].filter(([, g]) => g === a.generation).forEach(([p]) => lc.steps.ledger.delete(p)));
  }
  const settled = isOutcome(event) ? lc.steps.settle(event) : (lc.actor.send(event as never), null);
  await flush();
  return settled;
}

/** Ends the one running step: with the model's first output for it, its first scripted error, or the error given. */
export async function finishStep(lc: Lifecycle, outcome: 'ok' | 'fail' | ScriptedError = 'ok'): Promise<Call> {
  const running = lc.steps.outstanding();
  assert.is(running.length, 1, 'exactly one step is running');
  const { id, src, input } = running[0]!;
  const event =
    outcome === 'ok'
      ? { type: `xstate.done.actor.${id}`, actorId: id, output: outputsFor(src, input)[0] }
      : { type: `xstate.error.actor.${id}`, actorId: id, error: outcome === 'fail' ? errorsFor(src)[0] : outcome };
  return (await apply(lc, event))!;
}

/** Replays a model path's events on a fresh real actor, without checks: a way to reach a state. */
export async function replay(path: TestPath<LifecycleSnapshot, AnyEventObject>, lc: Lifecycle = startLifecycle()): Promise<Lifecycle> {
  await flush();
  for (const { event } of path.steps.slice(1)) await apply(lc, event);
  return lc;
}

/**
 * Runs a model path on the real actor. At each step the actor must be in the model's state, must
 * have taken the model's transition (nothing more), and its data must satisfy the oracle.
 * Returns the edges the real actor took.
 */
export async function runPath(path: TestPath<LifecycleSnapshot, AnyEventObject>): Promise<Set<string>> {
  const taken = new Set<string>();
  let lc: Lifecycle | null = null;
  let before: LifecycleSnapshot | null = null;
  let expectedEdges: string[] = [];
  let record: Pick<Parameters<typeof checkStep>[0], 'event' | 'settled' | 'started' | 'earlier' | 'startedAt' | 'resumed'> | null = null;
  let failed: FailedStep | null = null;

  const execute = async ({ event }: { event: AnyEventObject }) => {
    const startedAt = new Date().toISOString();
    if (lc === null) {
      lc = startLifecycle();
      await flush();
      record = { event, settled: null, started: [...lc.steps.calls], earlier: [], startedAt, resumed: null };
      expectedEdges = [];
      return;
    }
    before = lc.actor.getSnapshot();
    expectedEdges = edgesTaken(before, event);
    const callsBefore = lc.steps.calls.length;
    const settled = await apply(lc, event);
    record = { event, settled, started: lc.steps.calls.slice(callsBefore), earlier: lc.steps.calls.slice(0, callsBefore), startedAt, resumed: failed };
  };

  const verify = (modelState: LifecycleSnapshot) => {
    const now = lc!.actor.getSnapshot();
    assert.equal(now.value, modelState.value, 'real actor is in the model state');
    const edges = lc!.takeEdges();
    edges.forEach((e) => taken.add(e));
    assert.equal(edges, expectedEdges, 'real actor took the model transition');

    const to = pathOf(now.value);
    const from = before ? pathOf(before.value) : null;
    if (to !== 'failed') failed = null;
    else if (from !== 'failed') failed = { state: from!, call: record!.settled! };

    checkStep({
      ...record!,
      before,
      after: now,
      running: lc!.steps.outstanding(),
      ledger: [...lc!.steps.ledger].map(([prefix, generation]) => ({ prefix, generation })).sort((a, b) => a.prefix.localeCompare(b.prefix)),
      failed,
    });
  };

  const executors = Object.fromEntries(path.steps.map((s) => [s.event.type, execute]));
  try {
    await path.test({ events: executors, states: { '*': verify } });
  } finally {
    (lc as Lifecycle | null)?.actor.stop();
  }
  return taken;
}

/** A short name for a path: its events, with step outcomes named by the state that ran them. */
export function describePath(path: TestPath<LifecycleSnapshot, AnyEventObject>): string {
  return path.steps
    .slice(1)
    .map(({ event }) => {
      const m = /^xstate\.(done|error)\.actor\.\d+\.prefixLifecycle\.(.*)$/.exec(event.type);
      if (!m) return event.type === 'ACTIVATE' && event.cpeId === null ? 'ACTIVATE(no CPE)' : event.type;
      const queued = m[1] === 'done' && (event.output as { status?: string } | undefined)?.status === 'queued';
      return `${m[2]} ${m[1] === 'done' ? (queued ? 'queued' : 'ok') : event.lostOutput !== undefined ? 'reply lost' : 'fails'}`;
    })
    .join(' → ');
}
