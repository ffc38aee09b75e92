import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { CpeInput } from '../../machines/types.ts';
import { UPDATE, clockOf } from './support/model.ts';
import { apply, finishStep } from './support/run-path.ts';
import { activeLifecycle, context, running, state } from './support/stories.ts';

const open = suite('prefixLifecycle update rollback and the CPE');

// Without an answer, the ACS may hold the update's CPE task anyway (the NBI stores it before it
// answers, and a timeout or a 5xx says nothing about that), so the CPE would move to the new prefix
// when it next informs: a prefix the rollback has just given back to IPAM, while RADIUS delegates
// the old one. The same reasoning as a lost allocation answer: the CPE step's compensation runs.
open('the rollback of an update whose CPE command got no answer puts that CPE back on the old prefix, first', async () => {
  const lc = await activeLifecycle();
  const { current, cpeId, lifecycleId } = context(lc);
  await apply(lc, UPDATE);
  for (let i = 0; i < 3; i++) await finishStep(lc); // allocate, RADIUS, sessions
  assert.equal(state(lc), { active: 'updateCpe' });
  await finishStep(lc, { code: 'upstream_unavailable', message: 'GenieACS: no answer within 10000 ms', attempts: 3, at: clockOf('configureCpe', true) });
  assert.equal(state(lc), { active: { updateRollback: 'restoreCpe' } });
  const restore = running(lc);
  assert.is(restore.src, 'restoreCpe');
  assert.equal(restore.input as CpeInput, { key: `${lifecycleId}:restorePd:1`, cpeId, prefix: current!.prefix });
  lc.actor.stop();
});

open('a CPE that refused the update command is left alone: the rollback undoes only what ran', async () => {
  const lc = await activeLifecycle();
  await apply(lc, UPDATE);
  for (let i = 0; i < 3; i++) await finishStep(lc);
  await finishStep(lc, { code: 'upstream_rejected', message: 'GenieACS: 400', attempts: 1, at: clockOf('configureCpe', true) });
  assert.equal(state(lc), { active: { updateRollback: 'restoreRadius' } });
  const order: string[] = [];
  while (lc.steps.outstanding().length > 0) order.push((await finishStep(lc)).src);
  assert.equal(order, ['writeRadiusReply', 'notifySessions', 'releasePrefix'], 'RADIUS back, then the sessions told, then the new prefix released');
  assert.equal(state(lc), { active: 'idle' });
  lc.actor.stop();
});

open.run();
