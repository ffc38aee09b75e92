import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { AnyStateNode } from 'xstate';
import { prefixLifecycle } from '../../machines/prefix-lifecycle.ts';
import { edgesTaken, machineEdges } from './support/edges.ts';
import { UPDATE, allocationFor, createLifecycleModel } from './support/model.ts';
import type { AllocateInput } from '../../machines/types.ts';
import { apply, describePath, finishStep, flush, runPath, startLifecycle } from './support/run-path.ts';

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

graph('every transition of the machine, each guarded branch on its own, lies on a generated path', () => {
  const covered = new Set<string>();
  for (const path of paths) {
    for (let i = 1; i < path.steps.length; i++) edgesTaken(path.steps[i - 1]!.state, path.steps[i]!.event).forEach((e) => covered.add(e));
  }
  const known = new Set(edges.map((e) => e.id));
  console.log(`transitions: ${edges.length}, covered: ${[...covered].filter((id) => known.has(id)).length}`);
  assert.equal(edges.filter((e) => !covered.has(e.id)).map((e) => e.label), [], 'transitions without a path');
  assert.equal([...covered].filter((id) => !known.has(id)), [], 'paths took transitions the walk did not find');
});

graph('every state node is visited by some path', () => {
  const visited = new Set(paths.flatMap((p) => p.steps.flatMap((s) => (s.state._nodes as AnyStateNode[]).map((n) => n.id))));
  assert.equal(stateNodes(prefixLifecycle.root).map((n) => n.id).filter((id) => !visited.has(id)), [], 'unreachable states');
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
  assert.equal(edges.filter((e) => !takenByActor.has(e.id)).map((e) => e.label), []);
});

real.run();

// Behaviours the machine gets wrong today. Each test states the correct behaviour and fails until
// the machine is fixed; the reply that added them describes the fix.
const bugs = suite('prefixLifecycle known bugs');

async function activeLifecycle() {
  const lc = startLifecycle();
  await finishStep(lc);
  await apply(lc, { type: 'ACTIVATE', username: 'alice@isp.example', cpeId: '00D09E-HGW-0001' });
  await finishStep(lc);
  await finishStep(lc);
  assert.equal(lc.actor.getSnapshot().value, { active: 'idle' });
  return lc;
}

async function revoke(lc: Awaited<ReturnType<typeof activeLifecycle>>) {
  await apply(lc, { type: 'REVOKE', reason: 'contract ended' });
  for (let i = 0; i < 4; i++) await finishStep(lc);
  assert.is(lc.actor.getSnapshot().value, 'revoked');
}

bugs('an update allocation whose reply was lost is given back by REVOKE', async () => {
  const lc = await activeLifecycle();
  await apply(lc, UPDATE);
  const [call] = lc.steps.outstanding();
  // IPAM allocated under the update's key, then the reply timed out.
  lc.steps.loseReply(call!.id, allocationFor(call!.input as AllocateInput), { code: 'timeout', message: 'no reply', attempts: 3 });
  await flush();
  assert.equal(lc.actor.getSnapshot().value, { active: 'idle' });
  await revoke(lc);
  assert.equal([...lc.steps.ledger], [], 'IPAM still holds a prefix for a revoked lifecycle');
  lc.actor.stop();
});

bugs('REVOKE after a first allocation whose reply was lost gives the prefix back', async () => {
  const lc = startLifecycle();
  await flush();
  const [call] = lc.steps.outstanding();
  lc.steps.loseReply(call!.id, allocationFor(call!.input as AllocateInput), { code: 'timeout', message: 'no reply', attempts: 3 });
  await flush();
  assert.is(lc.actor.getSnapshot().value, 'failed');
  await apply(lc, { type: 'REVOKE', reason: 'never mind' });
  for (let i = 0; i < 4; i++) await finishStep(lc);
  assert.equal([...lc.steps.ledger], [], 'IPAM still holds a prefix for a revoked lifecycle');
  lc.actor.stop();
});

bugs('a failed release of the retired prefix names the IPAM that holds it', async () => {
  const lc = await activeLifecycle();
  await apply(lc, UPDATE); // embedded → netbox
  for (let i = 0; i < 4; i++) await finishStep(lc);
  assert.equal(lc.actor.getSnapshot().value, { active: 'updateRelease' });
  await finishStep(lc, 'fail');
  assert.is(lc.actor.getSnapshot().context.failure?.step, 'embedded_release', 'the retired prefix lives in the embedded IPAM');
  lc.actor.stop();
});

bugs.run();
