import { setImmediate as nextTurn } from 'node:timers/promises';
import pLimit from 'p-limit';
import { transition } from 'xstate';
import { initialContext } from '../../machines/context.ts';
import { prefixLifecycle } from '../../machines/prefix-lifecycle.ts';
import { stepKey } from '../../machines/steps.ts';
import type { ImportEvent } from '../../machines/types.ts';
import { toRow } from '../../runtime/projection.ts';
import type { SaveItem } from '../../store/lifecycles.ts';
import type { LifecyclePort } from '../../store/port.ts';
import type { AdoptCommand, IpamPort } from '../ipam/port.ts';
import type { ImportReport, PlanEntry } from './types.ts';

// Applying a plan: per subscriber, IPAM takes the prefix over under the key the lifecycle's first
// allocation would have used, then the lifecycle is stored straight in the state the field has it
// in. The machine's IMPORT transition is computed without starting an actor, so no step runs:
// nothing is written to RADIUS or a CPE. Each batch is one transaction; a kill loses at most the
// batch in flight, whose IPAM adoptions a rerun repeats (adopt() is idempotent by key).

export interface ApplyDeps {
  ipam: IpamPort;
  store: Pick<LifecyclePort, 'live' | 'saveBatch'>;
  /** Subscribers committed per transaction. */
  batchSize?: number;
  /** IPAM adoptions in flight at once (NetBox answers each over HTTP). */
  concurrency?: number;
  now?: () => Date;
  /** Called after each batch is committed (tests kill a run here). */
  afterBatch?: (committed: number) => void | Promise<void>;
  signal?: AbortSignal;
}

/** The stored row and audit entry of one adopted lifecycle: pending, then IMPORT. */
export function importedItem(e: PlanEntry, prefix: ImportEvent['prefix'], at: string): SaveItem {
  const input = { lifecycleId: e.lifecycle_id!, subscriberId: e.subscriber_id!, pool: e.pool!, prefixLength: prefix.prefixLength, ipam: e.ipam! };
  const event: ImportEvent = { type: 'IMPORT', state: e.state!, prefix, pool: e.pool!, ipam: e.ipam!, username: e.username, cpeId: e.cpe_id, at, sources: e.sources };
  // The state a new lifecycle starts in, resolved without its invocation (the allocation never starts).
  const pending = prefixLifecycle.resolveState({ value: 'pending', context: initialContext(input) });
  const [snapshot] = transition(prefixLifecycle, pending, event);
  const row = toRow(snapshot, prefixLifecycle.getPersistedSnapshot(snapshot), at, at);
  const detail = { state: `${e.state}.idle`, from_state: 'pending', sources: e.sources, prefix: prefix.prefix, pool: e.pool, username: e.username, cpe_id: e.cpe_id, netbox_prefix_id: prefix.netboxPrefixId };
  return { row, audit: { lifecycle_id: row.id, subscriber_id: row.subscriber_id, at, type: 'IMPORTED', from_state: null, to_state: row.state, detail: JSON.stringify(detail) } };
}

/** The IPAM command that takes an entry's prefix over: under the key its lifecycle's first allocation would have used. */
export const adoptCommand = (e: PlanEntry): AdoptCommand => ({
  lifecycleId: e.lifecycle_id!,
  subscriberId: e.subscriber_id!,
  key: stepKey(e.lifecycle_id!, 'allocate', 0),
  pool: e.pool!,
  prefix: e.prefix,
  netboxPrefixId: e.netbox_prefix_id,
});

/**
 * Entries adopted per turn of the event loop: each is an IPAM adoption and an IMPORT transition,
 * ~0.3 ms, and the embedded IPAM and the SQLite store answer at once (issue 10: ≤ 50 ms a turn).
 */
export const ADOPT_SLICE = 50;

export async function applyPlan(entries: readonly PlanEntry[], deps: ApplyDeps): Promise<NonNullable<ImportReport['applied']>> {
  const todo = entries.filter((e) => e.action === 'adopt');
  const size = Math.max(1, deps.batchSize ?? 500);
  const limit = pLimit(Math.max(1, deps.concurrency ?? 8));
  const now = deps.now ?? (() => new Date());
  const failed: NonNullable<ImportReport['applied']>['failed'] = [];
  let adopted = 0;
  for (let i = 0; i < todo.length; i += size) {
    deps.signal?.throwIfAborted();
    const batch = todo.slice(i, i + size);
    const at = now().toISOString();
    const adopt = (e: PlanEntry) =>
      limit(async (): Promise<SaveItem | null> => {
        try {
          return importedItem(e, await deps.ipam.adopt(adoptCommand(e), deps.signal), at);
        } catch (err) {
          failed.push({ subscriber_id: e.subscriber_id!, prefix: e.prefix, error: err instanceof Error ? err.message : String(err) });
          return null;
        }
      });
    const items: (SaveItem | null)[] = [];
    for (let j = 0; j < batch.length; j += ADOPT_SLICE) {
      await nextTurn();
      items.push(...(await Promise.all(batch.slice(j, j + ADOPT_SLICE).map(adopt))));
    }
    // The batch's checks asked at once, then the commit. On SQLite nothing between them waits for
    // I/O, so nothing of this process slips a lifecycle in; on PostgreSQL another instance may,
    // and the unique index on a subscriber's live lifecycle refuses the batch (all or none), which
    // fails the run: the next run plans afresh.
    const lives = await Promise.all(items.map((it) => (it ? deps.store.live(it.row.subscriber_id) : undefined)));
    const fresh = items.filter((it, i): it is SaveItem => {
      if (!it) return false;
      const live = lives[i];
      if (live && live.id !== it.row.id) failed.push({ subscriber_id: it.row.subscriber_id, prefix: it.row.prefix!, error: `a live lifecycle ${live.id} appeared meanwhile` });
      return !live;
    });
    // The commit of a batch (~20–35 ms on SQLite for 500) in a turn of its own.
    await nextTurn();
    await deps.store.saveBatch(fresh);
    adopted += fresh.length;
    await deps.afterBatch?.(adopted);
  }
  return { adopted, failed };
}
