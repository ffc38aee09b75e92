// The scheduled jobs (issue 9): `cleanup` (stale allocations revoked, retention), `leaks` (leak
// check, leaked prefixes reclaimed, NetBox hold-downs swept), `pending` (pending CPE work retried);
// issue 12: `reconcile` (every source of truth compared, runtime/reconcile.ts).
// A dry run is the same code with its effects recorded instead of applied, so it reports exactly
// what the real run would act on.
import type { Config } from '../config.ts';
import type { IpamPort, ReleaseCommand } from '../services/ipam/port.ts';
import type { LifecyclePort, RetentionPort } from '../store/port.ts';
import { createCleanup, type CleanupDeps } from './cleanup.ts';
import type { Inventory } from './inventory.ts';
import type { LifecycleService } from './lifecycle-service.ts';
import { applyRetention } from './retention.ts';
import { ITEMS_MAX, type JobResult, type JobSpec, type RunOptions } from './scheduler.ts';

export const JOB_NAMES = ['cleanup', 'leaks', 'pending', 'reconcile'] as const;
export type JobName = (typeof JOB_NAMES)[number];

export interface JobsDeps {
  /** What the clean-up works with (runtime/cleanup.ts); the jobs put recorders around its ports. */
  cleanup: CleanupDeps & { inventory: Inventory };
  /** A leak check that feeds no counter, for dry runs: a preview must not count a leak. */
  quietInventory: Pick<Inventory, 'discrepancies'>;
  store: Pick<LifecyclePort, 'duePending' | 'live'>;
  retention: RetentionPort;
  /** Prunes the audit trail past jobs.cleanup.audit_retention_days (store/audit-retention.ts); unset keeps it. */
  pruneAudit?: () => Promise<number>;
  pending: { tick(): Promise<number> };
  jobs: Config['jobs'];
  /** Interval of the pending CPE retries (runtime.pending_interval_ms). */
  pendingIntervalMs: number;
  /** The reconciliation (runtime/reconcile.ts); it does its own dry run. */
  reconcile: { run(opts: RunOptions): Promise<JobResult> };
}

/** A list of what a run counted, capped at ITEMS_MAX. */
function itemList() {
  const items: unknown[] = [];
  return { items, add: (x: unknown) => void (items.length < ITEMS_MAX && items.push(x)) };
}

export function createJobs(deps: JobsDeps): JobSpec[] {
  /**
   * The clean-up over ports that record what it does: the IPAM's `free` and the service's `revoke`
   * are recorded, and carried out only when `apply`. A dry one has no sweep (it is not previewed)
   * and a leak check that counts nothing.
   */
  function recordedCleanup(apply: boolean) {
    const reclaimed = itemList();
    const revoked = itemList();
    const real = deps.cleanup;
    const ipam = new Proxy(real.ipam, {
      get(target, key) {
        if (key === 'free') {
          return async (cmd: ReleaseCommand, signal?: AbortSignal) => {
            if (apply) await target.free(cmd, signal);
            reclaimed.add({ lifecycle_id: cmd.lifecycleId, pool: cmd.pool, prefix: cmd.prefix });
          };
        }
        if (key === 'sweep' && !apply) return undefined;
        const v = Reflect.get(target, key) as unknown;
        return typeof v === 'function' ? v.bind(target) : v;
      },
    }) as IpamPort;
    const service: Pick<LifecycleService, 'revoke'> = {
      revoke: async (input, waitMs) => {
        const lifecycleId = (await deps.store.live(input.subscriber_id))?.id ?? null;
        // The clean-up only counts a revocation that did not throw; it never reads the answer.
        const done = apply ? await real.service.revoke(input, waitMs) : (null as unknown as Awaited<ReturnType<LifecycleService['revoke']>>);
        revoked.add({ lifecycle_id: lifecycleId, subscriber_id: input.subscriber_id });
        return done;
      },
    };
    const inventory = apply
      ? real.inventory
      : { check: () => deps.quietInventory.discrepancies(), discrepancies: () => deps.quietInventory.discrepancies(), refresh: async () => 0 };
    return { cleanup: createCleanup({ ...real, ipam, service, inventory }), reclaimed: reclaimed.items, revoked: revoked.items };
  }

  const cleanupJob: JobSpec = {
    name: 'cleanup',
    trigger: { cron: deps.jobs.cleanup.cron },
    async run({ dryRun, signal }: RunOptions): Promise<JobResult> {
      const recorded = recordedCleanup(!dryRun);
      const staleRevoked = await recorded.cleanup.revokeStale();
      const deleted = itemList();
      const retentionDeleted = await applyRetention(deps.retention, {
        retentionDays: deps.jobs.cleanup.retention_days,
        dryRun,
        signal,
        keep: (l) => deleted.add({ lifecycle_id: l.id, subscriber_id: l.subscriber_id, revoked_at: l.revoked_at }),
      });
      // Not previewed: what a prune would delete is every revoked lifecycle's entry older than the cut.
      const counts: Record<string, number> = { stale_revoked: staleRevoked, retention_deleted: retentionDeleted };
      if (!dryRun && deps.pruneAudit) counts.audit_pruned = await deps.pruneAudit();
      return {
        counts,
        items: { stale_revoked: recorded.revoked, retention_deleted: deleted.items },
      };
    },
  };

  const leaksJob: JobSpec = {
    name: 'leaks',
    trigger: { cron: deps.jobs.leaks.cron },
    async run({ dryRun }: RunOptions): Promise<JobResult> {
      const recorded = recordedCleanup(!dryRun);
      const { reclaimed, sweep } = await recorded.cleanup.leaks();
      // Real: the check's figure after the reclaim; dry: the figure now (nothing was reclaimed).
      const leaked = dryRun
        ? (await deps.quietInventory.discrepancies()).filter((d) => d.kind === 'leaked').length
        : await deps.cleanup.inventory.leaks(Number.POSITIVE_INFINITY);
      const counts: Record<string, number> = { reclaimed, leaked };
      if (!dryRun) Object.assign(counts, swept(sweep));
      return { counts, items: { reclaimed: recorded.reclaimed } };
    },
  };

  const pendingJob: JobSpec = {
    name: 'pending',
    // Not a cron: its interval is also the first backoff of a pending step, and is often under a minute.
    trigger: { everyMs: deps.pendingIntervalMs },
    async run({ dryRun }: RunOptions): Promise<JobResult> {
      if (dryRun) {
        const due = await deps.store.duePending(new Date().toISOString(), ITEMS_MAX);
        return { counts: { due: due.length }, items: { due: due.map((d) => ({ lifecycle_id: d.id, subscriber_id: d.subscriber_id })) } };
      }
      return { counts: { worked: await deps.pending.tick() }, items: {} };
    },
    idle: (r) => r.counts.worked === 0,
  };

  const reconcileJob: JobSpec = { name: 'reconcile', trigger: { cron: deps.jobs.reconcile.cron }, run: (opts) => deps.reconcile.run(opts) };

  return [cleanupJob, leaksJob, pendingJob, reconcileJob];
}

/**
 * What the IPAMs' sweeps did, from the router's per-IPAM answers: `swept`, NetBox prefixes deleted
 * after their hold-down (`{ deleted, kept }`); `given_back`, embedded blocks past theirs returned to free space.
 */
function swept(sweep: unknown): { swept: number; given_back: number } {
  const all = Array.isArray(sweep) ? sweep : sweep ? [sweep] : [];
  const sum = (key: string) =>
    all.reduce<number>((n, s) => {
      const v = (s as Record<string, unknown> | null)?.[key];
      return n + (typeof v === 'number' ? v : 0);
    }, 0);
  return { swept: sum('deleted'), given_back: sum('given_back') };
}
