// The composition root: config → store → ports → actor host → service → http. Nothing else wires
// (compose-ipam.ts builds its IPAM part; compose-run.ts runs what it wired: start, readiness, stop).
import { randomBytes } from 'node:crypto';
import { hostname } from 'node:os';
import pino, { type Logger } from 'pino';
import type { Composed, Overrides } from './compose-types.ts';
import type { Config } from './config.ts';
import { buildIpam, drainingPools } from './compose-ipam.ts';
import { buildPeers } from './compose-peers.ts';
import { createRun } from './compose-run.ts';
import { createApp } from './http/app.ts';
import type { Importer } from './http/routes/import.ts';
import { createImporter } from './services/adoption/importer.ts';
import { openRadiusField } from './services/field/radius-backends.ts';
import { prefixLifecycle } from './machines/prefix-lifecycle.ts';
import { publicStepNames } from './machines/steps.ts';
import type { IpamKind } from './machines/types.ts';
import { ActorHost } from './runtime/actor-host.ts';
import { createCleanup } from './runtime/cleanup.ts';
import { createInventory } from './runtime/inventory.ts';
import { createJobMetrics } from './runtime/job-metrics.ts';
import { createJobs, JOB_NAMES } from './runtime/jobs.ts';
import { createReconcile, reconciliationGauge } from './runtime/reconcile.ts';
import { createCpeFieldReader } from './services/field/cpe.ts';
import { createLeakCounter } from './runtime/leak-counter.ts';
import { LifecycleService } from './runtime/lifecycle-service.ts';
import type { PoolSpec } from './runtime/operation-types.ts';
import { loggerOptions } from './runtime/log-context.ts';
import { createMetrics } from './runtime/metrics.ts';
import { createPoolFigures } from './runtime/pool-figures.ts';
import { createOwnership } from './runtime/ownership.ts';
import { createPendingWorker } from './runtime/pending-worker.ts';
import type { RetryPolicy } from './runtime/retry.ts';
import { startInspector } from './runtime/inspector.ts';
import { createScheduler } from './runtime/scheduler.ts';
import { createAllocateNow, createStepActors } from './runtime/step-actors.ts';
import { Flights } from './runtime/flights.ts';
import { drainingError } from './services/ipam/router.ts';
import type { Db } from './store/db.ts';
import { pruneAuditOlderThan } from './store/audit-retention.ts';
import { createHeldScratch } from './store/held-scratch.ts';
import type { LifecycleStore } from './store/lifecycles.ts';
import { openConfiguredStore, sqliteOnly, type OpenedStore } from './store/open.ts';

export type { Composed, Overrides } from './compose-types.ts';

export async function compose(config: Config, opts: { log?: Logger; overrides?: Overrides; env?: NodeJS.ProcessEnv } = {}): Promise<Composed> {
  const env = opts.env ?? process.env;
  const log = opts.log ?? pino(loggerOptions(config.log.level));
  const overrides = opts.overrides ?? {};
  const opened = await openConfiguredStore(config, env);
  try {
    return await wire(config, opened, log, overrides, env);
  } catch (err) {
    // A start that fails while wiring (a missing secret, a port that cannot be built) leaves no database behind.
    await opened.discard();
    throw err;
  }
}

async function wire(config: Config, opened: OpenedStore, log: Logger, overrides: Overrides, env: NodeJS.ProcessEnv): Promise<Composed> {
  // The store port (store/port.ts): what the runtime reads and writes through, whichever backend.
  const { port, sqlite, postgresql } = opened;
  if (opened.fresh) log.info({ database: config.database }, 'created a new, empty database');
  if (postgresql) log.info({ url_env: config.store.url_env, pool_max: config.store.pool_max }, 'store on PostgreSQL');
  const store = sqlite?.store ?? sqliteOnly<LifecycleStore>('the synchronous lifecycle store');
  const db = sqlite?.db ?? sqliteOnly<Db>('the SQLite database');
  const closers: (() => void)[] = [];

  const ipamKind = (p: Config['pools'][number]): IpamKind => (overrides.ipam ? (overrides.ipamKind ?? 'fake') : p.netbox ? 'netbox' : 'embedded');
  const longest = config.radius?.reply.framed_prefix === 'first64' ? 63 : 64;
  const pools: PoolSpec[] = config.pools.map((p) => ({ name: p.name, prefix: p.prefix, prefix_length: p.prefix_length, ipam: ipamKind(p), longest }));
  // A pool removed from the configuration while lifecycles use it drains: no new allocation, releases work.
  const { draining, poolUsers } = await drainingPools(opened, new Set(pools.map((p) => p.name)), log);
  const ipam = await buildIpam(config, opened, log, env, draining, poolUsers, overrides);

  const { replies, sessions, cpe, usernames } = await buildPeers(config, log, env, overrides, closers);

  const leakCounter = createLeakCounter({ counts: port.counts, store: port.lifecycles, leakAfterS: config.runtime.leak_after_s });
  // One reading of the pools' figures for the gauges and the API's summary: a NetBox walk serves both.
  const figures = createPoolFigures(ipam, log);
  const inventory = createInventory({
    store: port.lifecycles,
    ipam,
    figures,
    ...(sqlite ? { seen: createHeldScratch(sqlite.db) } : {}),
    onChecked: (found) => leakCounter.record(found),
    lastCheck: { read: () => port.counts.lastLeakCheck(), save: (check) => port.counts.saveLeakCheck(check) },
  });
  // Several instances (runtime/fleet.ts, started by the run below): the leader runs the scheduled jobs and reports the fleet-wide figures.
  const leads = () => run.leads();
  // A scrape shows the last leak check's figure (the scheduled check refreshes it): a check walks
  // every live lifecycle and IPAM holding, far too much for a scrape. The figure is stored, so a new
  // process reports the last one; only a database that never had a check waits for one.
  const metrics = createMetrics({
    store: port.lifecycles,
    counts: port.counts,
    log,
    ipam,
    figures,
    leaks: () => inventory.leaks(Number.POSITIVE_INFINITY),
    ...(postgresql ? { fleetWide: leads } : {}),
    // Read at scrape time, once the host below exists.
    inMemory: () => ({ actors: host.size, parked: host.parked }),
    failureSteps: publicStepNames([...new Set(pools.map((p) => p.ipam))]),
  });
  const { attempts, base_ms: baseMs, max_ms: maxMs, retry_after_max_ms: retryAfterMaxMs } = config.retry;
  const retry: RetryPolicy = { attempts, baseMs, maxMs, retryAfterMaxMs };
  // One schedule for pending CPE work: its first attempt (set by the step) and every later one (the worker).
  const pendingBackoff = { baseMs: config.runtime.pending_interval_ms, maxMs: config.runtime.pending_backoff_max_ms };
  const actorsIpamKind = (pool: string) => {
    const p = config.pools.find((c) => c.name === pool);
    return p ? ipamKind(p) : 'ipam';
  };
  // A step's call outlives its actor while the host parks the lifecycle (runtime/flights.ts).
  const flights = new Flights();
  const actors = createStepActors(
    { ipam, replies, sessions, cpe },
    {
      retry,
      sessionAction: config.sessions,
      log,
      onSessionOutcome: metrics.onSessionOutcome,
      onStep: metrics.onStep,
      ipamKind: actorsIpamKind,
      // Bound late: the host needs the machine these actors go into.
      afterCommit: () => host.afterCommit(),
      pendingBackoff,
      flights,
      cpeSuccessor: async (lifecycleId, cpeId) => {
        const row = await port.lifecycles.get(lifecycleId);
        return row ? port.lifecycles.newerOnCpe(cpeId, row) : null;
      },
      prefixHolder: (prefix, lifecycleId) => port.lifecycles.prefixHolder(prefix, lifecycleId),
    },
  );
  const inspector = config.inspector.enabled ? await startInspector({ host: config.inspector.host, port: config.inspector.port, log }) : null;
  if (inspector) closers.push(inspector.stop);
  // Several instances: a subscriber's work is leased to one of them at a time (runtime/ownership.ts).
  const ownership = postgresql
    ? createOwnership({
        leases: postgresql.leases,
        renewals: postgresql.renewals,
        // Always unique, whatever the name: two processes given one name (a copied file) must never count as one owner.
        owner: `${config.store.instance_id ?? hostname()}-${process.pid}-${randomBytes(3).toString('hex')}`,
        leaseMs: config.store.lease_ms,
        log,
        onLost: (key) => host.abandon(key),
      })
    : null;
  const host = new ActorHost({
    store: port.lifecycles,
    ...(sqlite ? { sqlite: sqlite.store } : {}),
    ...(ownership ? { ownership } : {}),
    machine: prefixLifecycle.provide({ actors }),
    log,
    idleMs: config.runtime.idle_ms,
    maxLive: config.runtime.max_live_actors,
    flights,
    parkMs: config.runtime.park_ms,
    onTransition: metrics.onTransition,
    // An allocation the embedded IPAM makes in the store's own transaction needs no actor; with the
    // inspector on, every lifecycle gets one, so that the inspector sees each step.
    ...(inspector ? { inspect: inspector.inspect } : sqlite ? { allocateNow: createAllocateNow({ ipam }, { onStep: metrics.onStep, ipamKind: actorsIpamKind }) } : {}),
  });
  const defaultPool = config.default_pool ?? config.pools[0]!.name;
  const drainingNames = new Set(draining.map((d) => d.name));
  const service = new LifecycleService({
    host,
    store: port.lifecycles,
    pools,
    defaultPool,
    draining: (pool) => (drainingNames.has(pool) ? drainingError(pool, poolUsers(pool).lifecycles) : null),
    usernames,
  });
  const cleanupDeps = {
    store: port.lifecycles,
    service,
    ipam,
    inventory,
    log,
    staleAllocatedAfterS: config.runtime.stale_allocated_after_s,
    reclaimLeaks: config.runtime.reclaim_leaks,
  };
  const cleanup = createCleanup(cleanupDeps);
  const reconciliation = port.reconciliation;
  // The field readers (reconciliation's and each import's) read FreeRADIUS's database on a
  // connection of their own: the SQLite file, or a pool of one on PostgreSQL or MySQL/MariaDB.
  const radiusField = config.radius && replies ? openRadiusField(config.radius, log, env) : null;
  if (radiusField) closers.push(() => void radiusField.close());
  const reconcile = createReconcile({
    store: port.lifecycles,
    results: reconciliation,
    ipam,
    pools: config.pools.map((p) => ({ name: p.name, prefixLength: p.prefix_length })),
    radius: radiusField && replies ? { reader: radiusField, replies, framedPrefix: config.radius!.reply.framed_prefix } : null,
    cpe: config.genieacs && cpe ? { reader: createCpeFieldReader(config.genieacs, { env }), port: cpe } : null,
    config: config.reconcile,
    log,
    gauge: reconciliationGauge(metrics.registry),
  });
  const pending = createPendingWorker({
    store: port.lifecycles,
    host,
    cpe,
    ipam,
    log,
    baseDelayMs: pendingBackoff.baseMs,
    maxDelayMs: pendingBackoff.maxMs,
    concurrency: config.limits.genieacs.concurrency,
    // The first pass after a start spreads its attempts over one interval instead of sending them all at once.
    spreadFirstMs: config.runtime.pending_interval_ms,
  });
  const jobs = createScheduler({
    jobs: createJobs({
      cleanup: cleanupDeps,
      quietInventory: createInventory({ store: port.lifecycles, ipam }),
      store: port.lifecycles,
      retention: port.retention,
      ...(config.jobs.cleanup.audit_retention_days > 0 ? { pruneAudit: pruneAuditOlderThan(port.auditRetention, config.jobs.cleanup.audit_retention_days) } : {}),
      pending,
      jobs: config.jobs,
      pendingIntervalMs: config.runtime.pending_interval_ms,
      reconcile,
    }),
    timezone: config.jobs.timezone,
    ...(postgresql ? { leader: leads } : {}),
    log,
    metrics: createJobMetrics(metrics.registry, JOB_NAMES),
  });

  // Adoption reads the field through the readers reconciliation uses (services/field/): NetBox's
  // listing under the NetBox pools' parents, FreeRADIUS's radreply and radacct (a connection of its
  // own for the run, read only).
  const openRadius = config.radius ? () => openRadiusField(config.radius!, log, env) : null;
  const importer: Importer = createImporter({ pools, store: port.lifecycles, ipam, openRadius });

  const configured = env[config.api.token_env];
  const token = configured && configured.length > 0 ? configured : randomBytes(24).toString('base64url');
  const metricsToken = config.api.metrics_token_env ? (env[config.api.metrics_token_env] ?? null) : null;
  // Its start, readiness and stop (compose-run.ts).
  const run = createRun({ config, log, retry, ipam, opened, host, ownership, jobs, closers });
  const app = createApp({
    service,
    idempotency: port.idempotency,
    ...(ownership ? { instances: { owner: ownership.owner, alive: (owner: string) => ownership.alive(owner) } } : {}),
    registry: metrics.registry,
    summary: () => inventory.summary(),
    jobs,
    importer,
    reconciliation,
    ready: () => run.started(),
    notReady: run.notReady,
    checkReady: run.checkReady,
    api: config.api,
    token,
    metricsToken,
    log,
  });

  return {
    app,
    service,
    host,
    store,
    db,
    log,
    token,
    tokenGenerated: !configured,
    ready: () => run.notReady() === null,
    notReady: run.notReady,
    start: run.start,
    release: () => host.release(),
    discard: async () => {
      await run.stop();
      await opened.discard();
    },
    // Asked for now: no spreading.
    tickPending: () => pending.tick({ spreadMs: 0 }),
    cleanup: () => cleanup.run(),
    jobs,
    importer,
    stop: run.stop,
  };
}
