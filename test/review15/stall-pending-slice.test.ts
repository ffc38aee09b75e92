// Issue 10: the pending worker's pass over 20,000 due steps held the event loop 285 ms. Its workers
// pull from one queue, but when every call answers at once (a store in the same process, an ACS that
// answers from its queue) nothing gives the loop back: a worker went on to the next lifecycle in the
// same turn, and the whole queue could run as one chain of microtasks. It must begin at most
// PENDING_SLICE lifecycles per turn of the loop, whatever the concurrency.
import pino from 'pino';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { countPerTurn } from '../support/event-loop.ts';
import type { ActorHost } from '../../runtime/actor-host.ts';
import { createPendingWorker, PENDING_SLICE } from '../../runtime/pending-worker.ts';

const test = suite('stall: the pending worker begins a bounded number of lifecycles per turn');
const N = 2000;

function field(n: number) {
  const t = countPerTurn();
  const resolved: string[] = [];
  const due = Array.from({ length: n }, (_, i) => ({ id: `lc-${String(i).padStart(6, '0')}`, subscriber_id: `sub-${i}`, next_pending_at: '2026-01-01T00:00:00.000Z' }));
  const host = {
    exclusive: async (_s: string, fn: () => Promise<unknown>) => fn(),
    snapshot: async (id: string) => {
      t.count();
      return { context: { subscriberId: `sub-${id}`, cpeId: `cpe-${id}`, current: { prefix: '2001:db8::/56' }, pending: [{ step: 'cpe_configure_pd', key: `${id}:cpe`, attempts: 0, next_attempt_at: null, task_id: null }] } };
    },
    send: async (id: string, e: { type: string }) => void (e.type === 'PENDING_RESOLVED' && resolved.push(id)),
    settle: async () => undefined,
  } as unknown as ActorHost;
  const worker = createPendingWorker({
    store: { get: async (id) => ({ id, activated_at: null, created_at: '2026-01-01T00:00:00.000Z' }) as never, newerOnCpe: async () => null,
      // As the store pages them: after the cursor's (next_pending_at, id), in that order.
      duePending: async (_now, limit, after) => due.filter((d) => !after || d.id > after.id).slice(0, limit),
      countDue: async () => due.length,
    },
    host,
    cpe: { configurePd: async () => ({ status: 'done' }), removeIpv6: async () => ({ status: 'done' }) },
    log: pino({ level: 'silent' }),
    baseDelayMs: 1000,
    maxDelayMs: 60_000,
    concurrency: 32,
  });
  return {
    worker,
    get slices() {
      return t.turns;
    },
    resolved,
    stop: t.stop,
  };
}

test(`tick() over ${N} due lifecycles answering at once begins at most PENDING_SLICE of them per turn, and resolves every one`, async () => {
  const f = field(N);
  const looked = await f.worker.tick({ spreadMs: 0 });
  f.stop();
  assert.is(looked, N);
  assert.is(new Set(f.resolved).size, N);
  const most = Math.max(...f.slices);
  assert.ok(most <= PENDING_SLICE, `${most} lifecycles begun in one turn of the loop (bound ${PENDING_SLICE})`);
  assert.ok(f.slices.filter((s) => s > 0).length >= Math.ceil(N / PENDING_SLICE), `${f.slices.filter((s) => s > 0).length} turns did work`);
});

test.run();
