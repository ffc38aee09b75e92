import { setImmediate as yieldToLoop } from 'node:timers/promises';
import type { RetentionPort } from '../store/port.ts';
import type { ExpiredLifecycle } from '../store/retention.ts';

/** Rows per transaction: small enough that a batch holds the event loop for a few milliseconds. */
export const RETENTION_BATCH = 500;

/**
 * Deletes (or, dry, lists) the lifecycles revoked more than `retentionDays` ago, a batch per
 * transaction with the event loop free between batches; the audit trail stays (migration 007).
 * `keep` receives every lifecycle counted, oldest revocation first.
 */
export async function applyRetention(
  retention: RetentionPort,
  opts: { retentionDays: number; dryRun: boolean; signal: AbortSignal; now?: number; keep?: (l: ExpiredLifecycle) => void },
): Promise<number> {
  if (opts.retentionDays <= 0) return 0;
  const cutoff = new Date((opts.now ?? Date.now()) - opts.retentionDays * 86_400_000).toISOString();
  let n = 0;
  let after: ExpiredLifecycle | undefined;
  while (!opts.signal.aborted) {
    const batch = await retention.expired(cutoff, RETENTION_BATCH, after);
    if (batch.length === 0) break;
    if (opts.dryRun) {
      n += batch.length;
      batch.forEach((l) => opts.keep?.(l));
    } else {
      n += await retention.remove(
        batch.map((l) => l.id),
        cutoff,
      );
      // On SQLite listed and deleted with no I/O in between: what was listed still qualified. On
      // PostgreSQL another instance may have touched a row since: the count is what `remove` (which
      // checks each row again) deleted, and the items listed may name one it kept.
      batch.forEach((l) => opts.keep?.(l));
    }
    after = batch.at(-1);
    if (batch.length < RETENTION_BATCH) break;
    await yieldToLoop();
  }
  return n;
}
