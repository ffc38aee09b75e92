// Memory does not grow with the lifecycles stored, only with those in memory: store many settled
// lifecycles, hydrate every one, let the host evict them (`runtime.idle_ms`), and read RSS and heap.
import { setTimeout as sleep } from 'node:timers/promises';
import type { LifecycleRow } from '../store/lifecycles.ts';
import { composeBench, memory, type Bench } from './support.ts';

const IDLE_MS = 200;

export interface MemoryReading {
  stored: number;
  baseline: { rssMiB: number; heapMiB: number };
  hydrated: { rssMiB: number; heapMiB: number; actors: number };
  evicted: { rssMiB: number; heapMiB: number; actors: number };
}

/** Copies of a settled lifecycle under new ids, written in one transaction (hydrating is what is measured). */
function seed(b: Bench, sample: LifecycleRow, from: number, count: number): string[] {
  const ids = Array.from({ length: count }, (_, i) => `mem-${from + i}`);
  b.c.db.transaction(() => {
    for (const id of ids) {
      const subscriber = `mem-sub-${id}`;
      const snapshot = sample.snapshot.replaceAll(sample.id, id).replaceAll(sample.subscriber_id, subscriber);
      b.c.store.save({ ...sample, id, subscriber_id: subscriber, snapshot }, null);
    }
  })();
  return ids;
}

async function waitForEviction(b: Bench, limitMs: number): Promise<void> {
  const deadline = Date.now() + limitMs;
  while (b.c.host.size > 0 && Date.now() < deadline) await sleep(IDLE_MS / 2);
}

/** Hydrates then evicts `rounds[i]` more stored lifecycles per round; one reading per round. */
export async function benchMemory(rounds: number[]): Promise<{ readings: MemoryReading[]; leftAfterRejected: number; rejected: number }> {
  const b = await composeBench({ idleMs: IDLE_MS });
  try {
    const { service, host, store } = b.c;
    await service.allocate({ subscriber_id: 'mem-sample' }, 10_000);
    await service.activate({ subscriber_id: 'mem-sample', username: 'user-mem', cpe_id: 'cpe-mem' }, 10_000);
    const sample = store.live('mem-sample')!;
    await waitForEviction(b, 10 * IDLE_MS);
    const readings: MemoryReading[] = [];
    let stored = 1;
    for (const count of rounds) {
      const ids = seed(b, sample, stored, count);
      stored += count;
      const baseline = memory();
      // Settling arms the idle timer, as every operation of the service does after its event.
      for (const id of ids) {
        host.snapshot(id);
        await host.settle(id, 0);
      }
      const hydrated = { ...memory(), actors: host.size };
      await waitForEviction(b, 60_000);
      readings.push({ stored, baseline, hydrated, evicted: { ...memory(), actors: host.size } });
    }
    // An operation refused as an invalid transition hydrates the actor but never settles it.
    const refused = rounds[0] ?? 0;
    const ids = seed(b, sample, stored, refused);
    for (const id of ids) await service.reactivate({ subscriber_id: `mem-sub-${id}` }, 0).catch(() => undefined);
    await sleep(IDLE_MS * 5);
    return { readings, leftAfterRejected: host.size, rejected: refused };
  } finally {
    await b.close();
  }
}
