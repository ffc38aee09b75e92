import { test } from 'uvu';
import * as assert from 'uvu/assert';
import type { AnyStateNode } from 'xstate';
import { prefixLifecycle } from '../../machines/prefix-lifecycle.ts';
import { STEPS, stepAt } from '../../machines/steps.ts';

// The catalogue names the state of every step: the audit trail finds a step's public name from the
// state a done or error event left. Each invoking state is one step, and each step one such state.

function invoking(node: AnyStateNode): string[] {
  const own = node.invoke.length > 0 ? [node.path.join('.')] : [];
  return [...own, ...Object.values(node.states).flatMap(invoking)];
}

test('every state that invokes an actor is the state of exactly one catalogued step, and no step names another state', () => {
  const states = invoking(prefixLifecycle.root).sort();
  const catalogued = Object.values(STEPS).map((s) => s.state).sort();
  assert.equal(catalogued, states);
  for (const [id, spec] of Object.entries(STEPS)) assert.is(stepAt(spec.state), id);
  assert.is(stepAt('active.idle'), undefined);
  assert.is(stepAt(null), undefined);
});

test.run();
