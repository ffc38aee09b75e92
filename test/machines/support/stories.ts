import * as assert from 'uvu/assert';
import type { AllocateInput, ReleaseInput } from '../../../machines/types.ts';
import { NO_REPLY, allocationFor, stamped } from './model.ts';
import { apply, finishStep, flush, startLifecycle } from './run-path.ts';
import type { Lifecycle } from './run-path.ts';

// Building blocks for tests that tell a whole story on the real actor with scripted steps.

/** The one running step: its invocation id, actor and input. */
export function running(lc: Lifecycle) {
  const calls = lc.steps.outstanding();
  assert.is(calls.length, 1, 'exactly one step is running');
  return calls[0]!;
}

/** IPAM takes a block under the running allocation's key, and the answer never arrives. */
export async function loseAllocation(lc: Lifecycle): Promise<string> {
  const call = running(lc);
  assert.is(call.src, 'allocatePrefix');
  const taken = allocationFor(call.input as AllocateInput);
  lc.steps.loseReply(call.id, taken, NO_REPLY);
  await flush();
  return taken.prefix;
}

export const state = (lc: Lifecycle) => lc.actor.getSnapshot().value;
export const context = (lc: Lifecycle) => lc.actor.getSnapshot().context;
export const allocations = (lc: Lifecycle) => lc.steps.calls.filter((c) => c.src === 'allocatePrefix').map((c) => c.input as AllocateInput);

export async function activeLifecycle(cpe: 'done' | 'queued' = 'done'): Promise<Lifecycle> {
  const lc = startLifecycle();
  await flush();
  await finishStep(lc);
  await apply(lc, { type: 'ACTIVATE', username: 'alice@isp.example', cpeId: '00D09E-HGW-0001' });
  await finishStep(lc);
  const { id } = running(lc);
  const result = cpe === 'done' ? { status: 'done' } : { status: 'queued', taskId: 'task-1' };
  await apply(lc, { type: `xstate.done.actor.${id}`, actorId: id, output: stamped('configureCpe', result) });
  assert.equal(state(lc), { active: 'idle' });
  return lc;
}

/** REVOKE, then every revocation step succeeds. */
export async function revoke(lc: Lifecycle): Promise<ReleaseInput> {
  await apply(lc, { type: 'REVOKE', reason: 'contract ended' });
  const release = running(lc).input as ReleaseInput;
  for (let i = 0; i < 5; i++) await finishStep(lc);
  assert.is(state(lc), 'revoked');
  return release;
}
