// The `reconcile` job: reads the field (services/field/), compares it with the lifecycles
// (reconcile-checks.ts), repairs per `reconcile.repair.<kind>` what is unambiguous, stores the
// run's differences and sets ipv6_reconciliation_discrepancies{kind}. A dry run is the same walk
// with every repair recorded as `would_repair` and nothing changed (nor stored as the gauge).
import { setImmediate as nextTurn } from 'node:timers/promises';
import type { Logger } from 'pino';
import { Gauge, type Registry } from 'prom-client';
import type { Config } from '../config.ts';
import type { CpeFieldReader } from '../services/field/cpe.ts';
import { heldPrefixes, type FieldIpam } from '../services/field/ipam.ts';
import type { RadiusFieldReader } from '../services/field/radius.ts';
import type { CpePort } from '../services/genieacs/port.ts';
import { parsePrefix } from '../services/ipv6.ts';
import type { RadiusReplyPort } from '../services/radius/port.ts';
import { desiredReply, managedAttributes, type FramedPrefixMode } from '../services/radius/reply-attributes.ts';
import type { LifecycleRow } from '../store/lifecycles.ts';
import type { LifecyclePort } from '../store/port.ts';
import type { ReconciliationPort } from '../store/port.ts';
import type { DiscrepancyAction, DiscrepancyRow } from '../store/reconciliation.ts';
import {
  activeCpes,
  compareActiveCpe,
  compareCpe,
  compareReply,
  compareSession,
  DISCREPANCY_KINDS,
  emptyIndex,
  holdBackUnheld,
  indexLifecycle,
  managedPart,
  missingReplies,
  viewOf,
  type Found,
  type LifecycleView,
} from './reconcile-checks.ts';
import { compareIpamInSlices } from './reconcile-ipam.ts';
import { holdPendingReleases } from './reconcile-pending.ts';
import { ITEMS_MAX, type JobResult, type RunOptions } from './scheduler.ts';

export interface ReconcileDeps {
  store: Pick<LifecyclePort, 'list' | 'get'>;
  results: ReconciliationPort;
  ipam: FieldIpam;
  pools: { name: string; prefixLength: number }[];
  radius: { reader: RadiusFieldReader; replies: RadiusReplyPort; framedPrefix: FramedPrefixMode } | null;
  cpe: { reader: CpeFieldReader; port: CpePort } | null;
  config: Config['reconcile'];
  log: Logger;
  /** Sets ipv6_reconciliation_discrepancies{kind} (unrepaired differences of the last real run). */
  gauge(counts: Record<string, number>): void;
  now?: () => number;
}

export function createReconcile(deps: ReconcileDeps) {
  const now = deps.now ?? Date.now;
  const log = deps.log.child({ job: 'reconcile' });
  const { page_size: pageSize } = deps.config;

  async function collect(signal: AbortSignal): Promise<Found[]> {
    const ix = emptyIndex();
    for (let after: { created_at: string; id: string } | undefined; ; ) {
      const rows = await deps.store.list({ limit: pageSize, order: 'asc', ...(after ? { after } : {}) });
      for (const r of rows) indexLifecycle(ix, viewOf(r));
      if (rows.length < pageSize) break;
      after = rows[rows.length - 1]!;
      // The SQLite store answers at once: without a macrotask the whole walk is one turn (2 s at 165,000).
      await nextTurn();
      signal.throwIfAborted();
    }
    const held = await heldPrefixes(deps.ipam, signal);
    const utilization = await deps.ipam.utilization(signal);
    const parents = utilization.filter((u) => u.prefix).map((u) => parsePrefix(u.prefix));
    // ~135k holdings at 165,000 lifecycles: compared a slice at a time, the loop turning between.
    const compared = await compareIpamInSlices(ix, held, new Map(deps.pools.map((p) => [p.name, p.prefixLength])));
    signal.throwIfAborted();
    const found = await holdPendingReleases(compared, (id) => deps.store.get(id));
    if (deps.radius) {
      const { reader, framedPrefix } = deps.radius;
      const desired = (v: { username: string | null; prefix: string | null }) =>
        desiredReply({ username: v.username!, delegatedPrefix: v.prefix!, framedPrefix: null }, framedPrefix);
      const managed = managedAttributes(framedPrefix);
      const withRows = new Set<string>();
      for await (const page of reader.replies({ pageSize, signal })) {
        for (const all of page) {
          const reply = managedPart(all, managed);
          if (!reply) continue;
          for (const u of [reply.username, ...(reply.also ?? [])]) withRows.add(u);
          const f = compareReply(ix, reply, desired, parents);
          if (f) found.push(f);
        }
      }
      // One by one: after a loss of RADIUS data every active lifecycle is missing; a spread overflows past ~120k.
      for (const f of missingReplies(ix, withRows)) found.push(f);
      const staleBefore = now() - deps.config.session_stale_s * 1000;
      for await (const page of reader.openSessions({ pageSize, signal })) {
        for (const s of page) {
          const f = compareSession(ix, s, staleBefore);
          if (f) found.push(f);
        }
      }
    }
    if (deps.cpe) {
      const revoked = [...ix.revokedByCpe.values()].filter((v) => !ix.liveByCpe.has(v.cpe_id!));
      const active = activeCpes(ix);
      // One walk of batched projection queries for both: a CPE is in at most one of the two lists.
      const ids = [...revoked, ...active].map((v) => v.cpe_id!);
      const seen = await deps.cpe.reader.observe(ids, { batchSize: deps.config.cpe_batch_size, signal });
      for (const v of revoked) {
        const f = compareCpe(v, seen.get(v.cpe_id!));
        if (f) found.push(f);
      }
      for (const v of active) {
        const f = compareActiveCpe(v, seen.get(v.cpe_id!));
        if (f) found.push(f);
      }
    }
    holdBackUnheld(found);
    const order = new Map(DISCREPANCY_KINDS.map((k, i) => [k, i]));
    return found.sort((a, b) => order.get(a.kind)! - order.get(b.kind)!);
  }

  /** Carries out the repair of one difference; what it did, for the audit entry and the stored row. */
  async function repair(f: Found, signal: AbortSignal): Promise<Record<string, unknown>> {
    switch (f.kind) {
      case 'radreply_missing':
        await deps.radius!.replies.writeReply({ username: f.username!, delegatedPrefix: f.prefix!, framedPrefix: null }, signal);
        return { repair: 'radreply_written' };
      case 'radreply_stale':
        await deps.radius!.replies.removeReply({ username: f.username! }, signal);
        return { repair: 'radreply_removed' };
      case 'cpe_still_delegating': {
        const r = await deps.cpe!.port.removeIpv6({ key: `${f.lifecycle!.id}:reconcile:removeIpv6`, cpeId: f.cpeId! }, signal);
        return { repair: 'cpe_removal_queued', cpe_result: r.status };
      }
      case 'cpe_not_delegating': {
        const r = await deps.cpe!.port.configurePd({ key: `${f.lifecycle!.id}:reconcile:configurePd`, cpeId: f.cpeId!, prefix: f.prefix! }, signal);
        return { repair: 'cpe_configure_queued', cpe_result: r.status };
      }
      case 'ipam_orphan': {
        const h = f.held!;
        await deps.ipam.free({ lifecycleId: h.lifecycleId!, pool: h.pool, prefix: h.prefix, netboxPrefixId: h.netboxPrefixId }, signal);
        return { repair: 'ipam_freed' };
      }
      default:
        throw new Error(`no repair for ${f.kind}`);
    }
  }

  return {
    async run({ dryRun, signal }: RunOptions): Promise<JobResult> {
      const startedAt = new Date(now()).toISOString();
      const found = await collect(signal);
      const rows: DiscrepancyRow[] = [];
      for (const f of found) {
        // Rows of a user no lifecycle here ever had are the field's until the operator says otherwise.
        const policy = f.kind === 'radreply_stale' && f.lifecycle === null ? 'radreply_stale_unknown' : f.kind;
        const wanted = f.repairable && (deps.config.repair as Record<string, string>)[policy] === 'repair';
        let action: DiscrepancyAction = wanted ? (dryRun ? 'would_repair' : 'repaired') : 'reported';
        let detail = f.detail;
        // The walk took time: a lifecycle that moved since it was read is the machine's again, not ours to repair.
        if (wanted && !dryRun && f.lifecycle && moved(f.lifecycle, await deps.store.get(f.lifecycle.id))) {
          rows.push(row(f, 'reported', { ...detail, skipped: 'lifecycle_moved' }));
          continue;
        }
        if (wanted && !dryRun) {
          try {
            detail = { ...detail, ...(await repair(f, signal)) };
          } catch (err) {
            action = 'repair_failed';
            detail = { ...detail, error: { code: (err as { code?: string }).code ?? 'internal', message: (err as Error).message } };
          }
          const at = new Date(now()).toISOString();
          if (f.lifecycle) {
            await deps.results.audit({ lifecycle_id: f.lifecycle.id, subscriber_id: f.lifecycle.subscriber_id, state: f.lifecycle.state, at, detail: { kind: f.kind, action, ...pick(f), ...detail } });
          }
          // Without a lifecycle the stored row is the record; the log line says it happened.
          log.info({ kind: f.kind, action, lifecycle_id: f.lifecycle?.id ?? null, ...pick(f) }, 'reconciliation repair');
        }
        rows.push(row(f, action, detail));
      }
      const counts: Record<string, number> = Object.fromEntries(DISCREPANCY_KINDS.map((k) => [k, rows.filter((r) => r.kind === k).length]));
      counts.repaired = rows.filter((r) => r.action === 'repaired').length;
      if (dryRun) counts.would_repair = rows.filter((r) => r.action === 'would_repair').length;
      await deps.results.replace({ started_at: startedAt, finished_at: new Date(now()).toISOString(), dry_run: dryRun, counts }, rows);
      if (!dryRun) {
        deps.gauge(Object.fromEntries(DISCREPANCY_KINDS.map((k) => [k, rows.filter((r) => r.kind === k && r.action !== 'repaired').length])));
      }
      const items: Record<string, unknown[]> = {};
      for (const k of DISCREPANCY_KINDS) items[k] = rows.filter((r) => r.kind === k).slice(0, ITEMS_MAX);
      return { counts, items };
    },
  };
}

function row(f: Found, action: DiscrepancyAction, detail: Record<string, unknown>): DiscrepancyRow {
  const { id = null, subscriber_id = null } = f.lifecycle ?? {};
  return { kind: f.kind, lifecycle_id: id, subscriber_id, username: f.username, prefix: f.prefix, cpe_id: f.cpeId, action, detail };
}

function moved(seen: LifecycleView, now: LifecycleRow | undefined): boolean {
  return !now || now.busy !== 0 || now.state !== seen.state || now.prefix !== seen.prefix || now.username !== seen.username || now.updated_at !== seen.updated_at;
}

const pick = (f: Found) => ({ username: f.username, prefix: f.prefix, cpe_id: f.cpeId });

/** ipv6_reconciliation_discrepancies{kind}: the last real run's differences it did not repair (0 before any run). */
export function reconciliationGauge(registry: Registry): (counts: Record<string, number>) => void {
  const gauge = new Gauge({
    name: 'ipv6_reconciliation_discrepancies',
    help: 'Differences between IPAM, lifecycles, radreply, radacct and the CPEs that the last reconciliation left unrepaired, by kind',
    labelNames: ['kind'],
    registers: [registry],
  });
  for (const k of DISCREPANCY_KINDS) gauge.set({ kind: k }, 0);
  return (counts) => {
    for (const k of DISCREPANCY_KINDS) gauge.set({ kind: k }, counts[k] ?? 0);
  };
}
