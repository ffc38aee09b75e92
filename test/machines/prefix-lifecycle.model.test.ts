import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { AnyStateNode } from 'xstate';
import { prefixLifecycle } from '../../machines/prefix-lifecycle.ts';
import { edgesTaken, machineEdges } from './support/edges.ts';
import { createLifecycleModel } from './support/model.ts';
import { describePath, runPath } from './support/run-path.ts';

const model = createLifecycleModel();
const paths = model.getShortestPaths();
const edges = machineEdges(prefixLifecycle);

const graph = suite('prefixLifecycle model');

const stateNodes = (n: AnyStateNode): AnyStateNode[] => [n, ...Object.values(n.states).flatMap((c) => stateNodes(c as AnyStateNode))];

graph('invocations are named `<index>.<state node id>`, the ids the model’s done/error events use', () => {
  for (const node of stateNodes(prefixLifecycle.root)) {
    node.invoke.forEach((inv, i) => {
      assert.is(inv.id, `${i}.${node.id}`);
      assert.ok(node.transitions.has(`xstate.done.actor.${inv.id}`) && node.transitions.has(`xstate.error.actor.${inv.id}`), `${node.id} handles both outcomes`);
    });
  }
  assert.ok(edges.some((e) => e.id === 'prefixLifecycle.pending xstate.done.actor.0.prefixLifecycle.pending[0]'));
});

// Since review13 a rollback's release that fails queues a pending release instead of failing the
// lifecycle: only a snapshot stored before that is `failed` at rollback_release, and RETRY stays for it.
const legacy = (e: { label: string }) => e.label.startsWith('prefixLifecycle.failed --RETRY') && e.label.includes('"rollback_release"');

graph('every transition of the machine, each guarded branch on its own, lies on a generated path', () => {
  const covered = new Set<string>();
  for (const path of paths) {
    for (let i = 1; i < path.steps.length; i++) edgesTaken(path.steps[i - 1]!.state, path.steps[i]!.event).forEach((e) => covered.add(e));
  }
  const known = new Set(edges.map((e) => e.id));
  console.log(`transitions: ${edges.length}, covered: ${[...covered].filter((id) => known.has(id)).length}`);
  assert.equal(edges.filter((e) => !covered.has(e.id) && !legacy(e)).map((e) => e.label), [], 'transitions without a path');
  assert.equal([...covered].filter((id) => !known.has(id)), [], 'paths took transitions the walk did not find');
});

// A transient state (only eventless transitions out) is never at rest in a snapshot: it is passed
// through, and the test above shows every one of its transitions taken.
const transient = (n: AnyStateNode) => (n.always?.length ?? 0) > 0 && n.transitions.size === 0 && n.invoke.length === 0;

graph('every state node is visited by some path', () => {
  const visited = new Set(paths.flatMap((p) => p.steps.flatMap((s) => (s.state._nodes as AnyStateNode[]).map((n) => n.id))));
  const restful = stateNodes(prefixLifecycle.root).filter((n) => !transient(n));
  assert.equal(restful.map((n) => n.id).filter((id) => !visited.has(id)), [], 'unreachable states');
  assert.ok(restful.length < stateNodes(prefixLifecycle.root).length, 'the rollback passes through a transient chooser');
});

graph('every failed lifecycle the model reaches can be retried and revoked', () => {
  const failed = Object.values(model.getAdjacencyMap()).map((v) => v.state).filter((s) => s.matches('failed'));
  assert.ok(failed.length > 0);
  for (const s of failed) {
    assert.ok(s.can({ type: 'RETRY' }), `no RETRY after a failure at ${s.context.failedAt}`);
    assert.ok(s.can({ type: 'REVOKE', reason: null }), `no REVOKE after a failure at ${s.context.failedAt}`);
  }
});

graph.run();

// Each path runs against the real machine with scripted step actors: the same state and the same
// transition at every step, and data that satisfies the oracle in support/expectations.ts.
const real = suite('prefixLifecycle paths on the real actor');
const takenByActor = new Set<string>();

paths.forEach((path, i) => {
  real(`path ${i + 1}: ${describePath(path)}`, async () => {
    (await runPath(path)).forEach((e) => takenByActor.add(e));
  });
});

real('the real actor took every transition of the machine across the paths', () => {
  assert.equal(edges.filter((e) => !takenByActor.has(e.id) && !legacy(e)).map((e) => e.label), []);
});

real.run();
