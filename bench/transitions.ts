// Persisted lifecycle transitions per second: the real service, actor host and store, every
// subscriber taken through allocate → activate → suspend → reactivate → revoke, counted by the
// audit rows the store wrote (one per persisted snapshot).
import { performance } from 'node:perf_hooks';
import type { LifecycleService } from '../runtime/lifecycle-service.ts';
import type { LifecycleRow } from '../store/lifecycles.ts';
import { composeBench, perSecond } from './support.ts';

const WAIT_MS = 60_000;

async function journey(service: LifecycleService, subscriber: string): Promise<void> {
  const req = { subscriber_id: subscriber };
  await service.allocate(req, WAIT_MS);
  await service.activate({ ...req, username: `user-${subscriber}`, cpe_id: `cpe-${subscriber}` }, WAIT_MS);
  await service.suspend({ ...req, reason: 'bench' }, WAIT_MS);
  await service.reactivate(req, WAIT_MS);
  await service.revoke({ ...req, reason: 'bench' }, WAIT_MS);
}

export interface TransitionFigures {
  subscribers: number;
  concurrency: number;
  transitions: number;
  ms: number;
  perSecond: number;
  /** A stored row of an `active` lifecycle: the shape the raw upsert bench writes. */
  sampleRow: LifecycleRow;
}

/** Runs `subscribers` journeys, `concurrency` subscribers at a time (operations on one are sequential). */
export async function benchTransitions(subscribers: number, concurrency: number): Promise<TransitionFigures> {
  const b = await composeBench();
  try {
    const { service, db, store } = b.c;
    const countAudit = db.prepare<[], { n: number }>('SELECT count(*) AS n FROM audit');
    const audited = () => countAudit.get()!.n;
    const run = async (prefix: string, count: number) => {
      let next = 0;
      const worker = async () => {
        while (next < count) await journey(service, `${prefix}-${next++}`);
      };
      await Promise.all(Array.from({ length: concurrency }, worker));
    };
    await run('warmup', Math.min(500, subscribers));
    // One subscriber left active: its stored row is the sample for the raw bench.
    await service.allocate({ subscriber_id: 'sample' }, WAIT_MS);
    await service.activate({ subscriber_id: 'sample', username: 'user-sample', cpe_id: 'cpe-sample' }, WAIT_MS);
    const sampleRow = store.live('sample')!;
    const before = audited();
    const started = performance.now();
    await run('s', subscribers);
    const ms = performance.now() - started;
    const transitions = audited() - before;
    return { subscribers, concurrency, transitions, ms, perSecond: perSecond(transitions, ms), sampleRow };
  } finally {
    await b.close();
  }
}
