// The start-up resume of the actor host (`ActorHost.resumeInFlight`, on one instance; several
// instances resume through their leases instead, runtime/fleet.ts): the lifecycles whose step was
// in flight when the process stopped are hydrated again, and XState re-runs that step.
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { LifecycleRow } from '../store/lifecycles.ts';
import type { LifecyclePort } from '../store/port.ts';

/** Lifecycles hydrated per turn of the event loop by the start-up resume. */
export const RESUME_BATCH = 100;

/** What the resume needs of its host (ActorHost's private parts, handed in as functions). */
export interface ResumeHost {
  store: LifecyclePort;
  log: Logger;
  /** Whether the lifecycle has its actor in memory already. */
  present(lifecycleId: string): boolean;
  /** Starts the lifecycle's actor from its stored row (LiveActors' `hydrate`); throws what the machine cannot take. */
  hydrate(row: LifecycleRow): void;
  /** Set by `stopAll()`: a background resume still running hydrates nothing more. */
  stopped(): boolean;
}

/**
 * Hydrates every lifecycle that had a step in flight, which re-runs that step: `batch` at a time,
 * yielding to the event loop between batches, so that the service answers (and is ready) while it
 * runs; the ports' own limits bound the steps. A lifecycle a request hydrated first is skipped (one
 * actor per lifecycle), and so is one that finished meanwhile. Resolves with how many it resumed.
 */
export async function resumeInFlight(host: ResumeHost, batch = RESUME_BATCH): Promise<number> {
  const ids = await host.store.busy();
  let resumed = 0;
  for (let i = 0; i < ids.length && !host.stopped(); i += batch) {
    if (i > 0) await nextTurn();
    for (const id of ids.slice(i, i + batch)) {
      if (host.stopped() || host.present(id)) continue;
      const row = await host.store.get(id);
      if (!row?.busy || host.present(id)) continue;
      try {
        host.hydrate(row);
        resumed++;
      } catch (err) {
        // One snapshot the machine cannot take leaves the others to resume; a request for it answers the error.
        host.log.error({ lifecycle_id: id, err: String(err) }, 'could not resume a lifecycle in flight');
      }
    }
  }
  return resumed;
}
