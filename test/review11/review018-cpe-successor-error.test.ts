// Review 018 (d687883): a revocation's removeIpv6 first asks the store whether a later live
// lifecycle has the CPE (cpeSuccessor → newerOnCpe). That check ran outside the step's retries: a
// store error (SQLite busy, a PostgreSQL connection lost) rejected the step with the raw error, so
// the revocation failed at once, `internal` with the driver's own text, stamped 1970-01-01, where a
// removal that cannot be sent is kept as a pending step (queueOnFailure) and the pending worker asks
// the same question again before it sends it.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import pino from 'pino';
import { assign, createActor, setup, waitFor, type AnyActorLogic } from 'xstate';
import type { CpePort, CpeResult } from '../../services/genieacs/port.ts';
import type { IpamPort } from '../../services/ipam/port.ts';
import { createStepActors, type StepOptions } from '../../runtime/step-actors.ts';

const test = suite('review018: a failing successor check is the removal step\'s failure, not the revocation\'s');
const AT = new Date('2031-02-03T04:05:06.000Z');

function removalWith(cpeSuccessor: StepOptions['cpeSuccessor']) {
  const sent: string[] = [];
  const cpe: CpePort = {
    configurePd: async () => ({ status: 'done' }) as CpeResult,
    removeIpv6: async (cmd) => (sent.push(cmd.key), { status: 'done' }) as CpeResult,
  };
  const actors = createStepActors({ ipam: {} as IpamPort, replies: null, sessions: null, cpe }, {
    retry: { attempts: 2, baseMs: 0, maxMs: 0, retryAfterMaxMs: 0 },
    sessionAction: { suspend: 'disconnect', reactivate: 'coa', update: 'coa', revoke: 'disconnect' },
    log: pino({ level: 'silent' }),
    now: () => AT,
    pendingBackoff: { baseMs: 1000, maxMs: 60_000 },
    cpeSuccessor,
  } as StepOptions);
  return { logic: actors.removeCpeIpv6 as AnyActorLogic, sent };
}

/** The step invoked by a parent that has a lifecycle id, as the lifecycle machine invokes it. */
async function invoke(logic: AnyActorLogic) {
  const parent = setup({ actors: { step: logic } }).createMachine({
    context: { lifecycleId: 'old-1', out: null as unknown, error: null as unknown },
    initial: 'run',
    states: {
      run: {
        invoke: {
          src: 'step',
          input: { key: 'old-1:remove_ipv6:0', cpeId: 'CPE-1', prefix: null },
          onDone: { target: 'done', actions: assign({ out: ({ event }) => event.output }) },
          onError: { target: 'done', actions: assign({ error: ({ event }) => event.error }) },
        },
      },
      done: { type: 'final' },
    },
  });
  const actor = createActor(parent).start();
  const s = await waitFor(actor, (x) => x.status === 'done', { timeout: 2000 });
  return s.context as { out: { at: string; result: CpeResult; skipped?: string } | null; error: { code?: string; message?: string; at?: string } | null };
}

test('the store failing every time: the removal is kept as a pending step, not sent, and the driver\'s text stays out', async () => {
  const { logic, sent } = removalWith(async () => {
    throw new Error('SQLITE_IOERR: disk I/O error at /var/lib/ipv6/db.sqlite');
  });
  const { out, error } = await invoke(logic);
  assert.is(error, null, `the step does not fail the revocation: ${JSON.stringify(error)}`);
  assert.is(out?.result.status, 'queued');
  assert.is(out?.at, AT.toISOString());
  assert.equal(sent, [], 'no removal sent while it is not known that no later lifecycle has the CPE');
});

test('the store failing once: the check is asked again, and a later lifecycle on the CPE still skips the removal', async () => {
  let calls = 0;
  const { logic, sent } = removalWith(async () => {
    if (++calls === 1) throw new Error('Connection terminated unexpectedly');
    return 'new-1';
  });
  const { out, error } = await invoke(logic);
  assert.is(error, null, `the step does not fail the revocation: ${JSON.stringify(error)}`);
  assert.equal([out?.result.status, out?.skipped], ['done', 'cpe_superseded']);
  assert.equal(sent, []);
});

test('the store failing once, no later lifecycle: the removal is sent', async () => {
  let calls = 0;
  const { logic, sent } = removalWith(async () => {
    if (++calls === 1) throw new Error('Connection terminated unexpectedly');
    return null;
  });
  const { out, error } = await invoke(logic);
  assert.is(error, null);
  assert.equal([out?.result.status, out?.skipped], ['done', undefined]);
  assert.equal(sent, ['old-1:remove_ipv6:0']);
});

test.run();
