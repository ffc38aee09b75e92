import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { RollbackInput } from '../../machines/types.ts';
import { UPDATE } from './support/model.ts';
import { apply, finishStep } from './support/run-path.ts';
import { activeLifecycle, context, running, state } from './support/stories.ts';

const open = suite('prefixLifecycle update rollback and the CPE');

// The CPE command is the one update step whose rollback does nothing. Without an answer, the ACS may
// hold the task anyway (the NBI stores it before it answers, and a timeout or a 5xx says nothing about
// that), so the CPE moves to the new prefix when it next informs: a prefix the rollback has just given
// back to IPAM, while RADIUS delegates the old one. The same reasoning as a lost allocation answer.
open('the rollback of an update whose CPE command got no answer is told which CPE to put back on the old prefix', async () => {
  const lc = await activeLifecycle();
  const { held, cpeId } = context(lc);
  await apply(lc, UPDATE);
  for (let i = 0; i < 3; i++) await finishStep(lc); // allocate, RADIUS, sessions
  assert.equal(state(lc), { active: 'updateCpe' });
  await finishStep(lc, { code: 'upstream_unavailable', message: 'GenieACS: no answer within 10000 ms', attempts: 3 });
  assert.equal(state(lc), { active: 'updateRollback' });
  const rollback = running(lc).input as RollbackInput & { cpeId?: string | null };
  assert.equal(rollback.restore, held);
  assert.is(rollback.cpeId, cpeId, 'rollbackUpdate is not given the CPE, so it cannot put it back on the old prefix');
  lc.actor.stop();
});

open.run();
