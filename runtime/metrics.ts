import type { Logger } from 'pino';
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics, type Metric } from 'prom-client';
import type { IpamPort, PoolUtilization } from '../services/ipam/port.ts';
import type { SessionOutcome } from '../services/radius/port.ts';
import type { CountsPort, LifecyclePort } from '../store/port.ts';
import { LIFECYCLE_STATES, type SessionPurpose } from '../machines/types.ts';
import type { TransitionRecord } from './actor-host.ts';
import { exhaustionForecast } from './forecast.ts';
import { createPoolFigures, type PoolFigures } from './pool-figures.ts';
import { readContext } from './projection.ts';

/** Duration buckets of the lifecycle histograms, seconds: 1 ms to 60 s. */
export const DURATION_BUCKETS = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60];

/** How an outside step ended: `refused` is a definitive no (pool exhausted, rejected), `queued` a CPE step kept pending. */
export type StepOutcome = 'ok' | 'error' | 'refused' | 'queued';

export interface MetricsDeps {
  store: Pick<LifecyclePort, 'events'>;
  counts: CountsPort;
  ipam: IpamPort;
  /** The pools' figures, shared with the API's summary (compose.ts); absent, its own over `ipam`. */
  figures?: PoolFigures;
  /** Current leak-check figure (runtime/inventory.ts). */
  leaks: () => Promise<number>;
  now?: () => number;
  /**
   * Several instances on one store: whether this one reports the fleet-wide figures (the store's
   * counts, the pools, the leak check's figure), true on the leader only; the others report them as
   * 0, so that a sum over instances is the fleet's figure. Unset (one node): always.
   */
  fleetWide?: () => boolean;
  /** Where a change of IPAM's reachability is said (once per change, not per scrape). */
  log?: Pick<Logger, 'info' | 'warn'>;
  /** Public names of the steps that can fail here (machines/steps.ts publicStepNames): their failure series start at 0. */
  failureSteps?: readonly string[];
  /** This instance's lifecycles in memory: as actors, and parked (a step's call under way, no actor). */
  inMemory?: () => { actors: number; parked: number };
}

const SESSION_PURPOSES: readonly SessionPurpose[] = ['suspend', 'reactivate', 'update', 'revoke'];
/** The codes a step fails with when a peer is down, slow or refusing, or on a fault of ours. */
const PEER_FAILURE_CODES = ['upstream_unavailable', 'upstream_rejected', 'timeout', 'internal'] as const;

/**
 * The Prometheus registry and the hooks that keep its lifecycle series current. Every gauge reads
 * counts kept incrementally (store/counts.ts) or the IPAM's own figures, never a scan of lifecycles.
 */
export function createMetrics(deps: MetricsDeps) {
  const now = deps.now ?? Date.now;
  const registry = new Registry();
  const reports = deps.fleetWide ?? (() => true);
  const figures = deps.figures ?? createPoolFigures(deps.ipam, deps.log);
  const pools = figures.pools;
  // prom-client's nodejs_active_{handles,requests,resources}_total are gauges, which
  // `promtool check metrics` refuses (a `_total` suffix means a counter); the same series by type
  // (nodejs_active_handles{type=…}) stay, so only the sums are left out.
  const defaults = new Registry();
  collectDefaultMetrics({ register: defaults });
  // getMetricsAsArray() returns the metric objects themselves, typed as their JSON view.
  for (const metric of defaults.getMetricsAsArray()) {
    if (!/^nodejs_active_\w+_total$/.test(metric.name)) registry.registerMetric(metric as unknown as Metric);
  }

  const transitions = new Counter({
    name: 'ipv6_lifecycle_transitions_total',
    help: 'Lifecycle events persisted, by event type and public states',
    labelNames: ['event', 'from', 'to'] as const,
    registers: [registry],
  });
  const entered = new Counter({
    name: 'ipv6_lifecycle_state_total',
    help: 'Lifecycles entering each public state (a persisted transition whose state differs from the one before)',
    labelNames: ['state'] as const,
    registers: [registry],
  });
  for (const state of LIFECYCLE_STATES) entered.inc({ state }, 0);
  const failures = new Counter({
    name: 'ipv6_lifecycle_step_failures_total',
    help: 'Outside steps that exhausted their retries, by step and error code',
    labelNames: ['step', 'code'] as const,
    registers: [registry],
  });
  // Zero from the start, as below: Ipv6StepFailureRatioHigh sums rate() by step, and a series born at
  // 1 on a step's first failure since a start would not count (review12/alerts-step-failures-first).
  for (const step of deps.failureSteps ?? []) for (const code of PEER_FAILURE_CODES) failures.inc({ step, code }, 0);
  const sessionOutcomes = new Counter({
    name: 'ipv6_lifecycle_radius_requests_total',
    help: 'RFC 5176 requests to NASes, by purpose and outcome (no_answer: the NAS never answered; unsupported: it NAKed a Disconnect 405, 406 or 501; confirmed / acked_unconfirmed: an ACK checked against accounting)',
    labelNames: ['purpose', 'action', 'result'] as const,
    registers: [registry],
  });
  // Zero from the start for the results the alerts read: increase() over a series born at 1 is 0,
  // so the first NAS that stayed silent since a start would never fire RadiusNasNotAnswering.
  for (const purpose of SESSION_PURPOSES)
    for (const action of ['disconnect', 'coa'] as const) for (const result of ['no_answer', 'unsupported'] as const) sessionOutcomes.inc({ purpose, action, result }, 0);
  const allocation = new Histogram({
    name: 'ipv6_allocation_duration_seconds',
    help: 'From the allocation request accepted (the lifecycle stored) to the lifecycle allocated',
    labelNames: ['pool'] as const,
    buckets: DURATION_BUCKETS,
    registers: [registry],
  });
  const revocation = new Histogram({
    name: 'ipv6_revocation_duration_seconds',
    help: 'From the lifecycle entering revoking (its stored time, across restarts and retries) to revoked',
    labelNames: ['pool'] as const,
    buckets: DURATION_BUCKETS,
    registers: [registry],
  });
  const stepDuration = new Histogram({
    name: 'ipv6_lifecycle_step_duration_seconds',
    help: 'Each outside step, retries included, by public step name and outcome (ok, error, refused, queued)',
    labelNames: ['step', 'outcome'] as const,
    buckets: DURATION_BUCKETS,
    registers: [registry],
  });
  new Gauge({
    name: 'ipv6_lifecycle_lifecycles',
    help: 'Lifecycles by public state',
    labelNames: ['state'] as const,
    registers: [registry],
    async collect() {
      const counts = reports() ? await deps.counts.byState() : {};
      for (const state of LIFECYCLE_STATES) this.set({ state }, counts[state] ?? 0);
    },
  });
  new Gauge({
    name: 'ipv6_lifecycle_shared_prefixes',
    help: 'Prefixes that more than one live lifecycle shows (should be 0)',
    registers: [registry],
    async collect() {
      this.set(reports() ? await deps.counts.shared() : 0);
    },
  });
  new Gauge({
    name: 'ipv6_lifecycle_pending_lifecycles',
    help: 'Lifecycles with a pending step: a CPE step accepted but not confirmed (the CPE was offline), or the block of a rolled-back update that IPAM has not taken back yet',
    registers: [registry],
    async collect() {
      this.set(reports() ? await deps.counts.pending() : 0);
    },
  });
  const poolGauge = (name: string, help: string, value: (u: PoolUtilization) => number) =>
    new Gauge({
      name,
      help,
      labelNames: ['pool'] as const,
      registers: [registry],
      async collect() {
        // A draining pool has no capacity: its allocated / capacity would read as an infinite utilization.
        this.reset();
        if (!reports()) return;
        for (const u of (await pools()) ?? []) if (!u.draining) this.set({ pool: u.name }, value(u));
      },
    });
  const quarantined = (u: PoolUtilization) => u.heldDown ?? 0;
  poolGauge('ipv6_pool_capacity_prefixes', 'Prefixes of the pool’s delegated length the pool holds', (u) => u.capacity);
  poolGauge(
    'ipv6_pool_allocated_prefixes',
    'Allocated units of the pool’s delegated length (a /48 in a /56 pool is 256), quarantined ones not included',
    (u) => u.allocated - quarantined(u),
  );
  poolGauge(
    'ipv6_pool_quarantined_prefixes',
    'Released units of the pool not reusable yet: quarantined until their revocation ends, or in their hold-down',
    quarantined,
  );
  poolGauge(
    'ipv6_pool_utilization_percent',
    'Space of the pool not available to a new subscriber, 0-100: (allocated + quarantined) / capacity × 100',
    (u) => (u.capacity === 0 ? 0 : (u.allocated / u.capacity) * 100),
  );
  new Gauge({
    name: 'ipv6_pool_exhaustion_forecast_seconds',
    help: 'Seconds until the pool is full at its net allocation rate (allocated minus revoked) of the last 7 days; +Inf when not growing',
    labelNames: ['pool'] as const,
    registers: [registry],
    async collect() {
      this.reset();
      if (!reports()) return;
      const t = now();
      // One read of the hourly tally (store/counts.ts) serves every pool.
      const flows = await deps.counts.flows(new Date(t - 7 * 86_400_000).toISOString().slice(0, 13));
      for (const u of (await pools()) ?? []) this.set({ pool: u.name }, exhaustionForecast(u, flows, t));
    },
  });
  const figuresAge = new Gauge({
    name: 'ipv6_pool_figures_age_seconds',
    help: 'Seconds since the reading of the pools’ figures from IPAM that the ipv6_pool_* series show began (a scrape waits 3 s for a new one, then shows the last); left out with them (a failed reading, the first still going on); the leader’s (the other instances leave it out)',
    registers: [registry],
  });
  // An unlabelled gauge always has a sample (prom-client resets it to 0), and 0 would read as fresh
  // figures where none are shown (a follower, a failed reading): this one is left out instead.
  const declared = figuresAge.get.bind(figuresAge);
  figuresAge.get = async () => {
    const age = reports() ? await figures.ageSeconds() : null;
    if (age === null) return { ...(await declared()), values: [] };
    figuresAge.set(age);
    return declared();
  };
  new Gauge({
    name: 'ipv6_ipam_up',
    help: 'Whether the last reading of the pools’ figures from IPAM succeeded (NetBox reachable): 1, or 0 and the ipv6_pool_* series are left out; the leader’s (the other instances report 0)',
    registers: [registry],
    async collect() {
      // No figures yet while the first reading is still going on past the scrape's wait: NetBox is slow, not down.
      this.set(reports() && ((await pools()) !== null || figures.up()) ? 1 : 0);
    },
  });
  new Counter({
    name: 'ipv6_prefix_leak_total',
    help:
      'Prefixes not returned to IPAM within runtime.leak_after_s of their lifecycle’s termination (IPAM still marks it for a revoked or unknown lifecycle, ' +
      'or its lifecycle failed in a revocation step), each counted once, across restarts; the stored total, the same on every instance',
    registers: [registry],
    async collect() {
      // Not 0 on a follower: a new leader's counter would jump 0 → total, and increase() read it as new leaks.
      const n = await deps.counts.leaksCounted();
      // Reset only once the figure is in: a scrape running meanwhile never reads it at 0.
      this.reset();
      this.inc(n);
    },
  });
  new Gauge({
    name: 'ipv6_lifecycle_leaked_prefixes',
    help: 'Prefixes IPAM holds for this service that no live lifecycle holds',
    registers: [registry],
    async collect() {
      this.set(reports() ? await deps.leaks() : 0);
    },
  });

  new Gauge({
    name: 'ipv6_instance_leader',
    help: 'Whether this instance leads (runs the scheduled jobs and reports the fleet-wide figures): 1, or 0 on the others of several; one node leads itself',
    registers: [registry],
    collect() {
      this.set(reports() ? 1 : 0);
    },
  });

  new Gauge({
    name: 'ipv6_lifecycles_in_memory',
    help: "Lifecycles this instance holds in memory: kind=actor as XState actors (runtime.max_live_actors caps them), kind=parked with a step's call under way and no actor (runtime.park_ms)",
    labelNames: ['kind'] as const,
    registers: [registry],
    collect() {
      const m = deps.inMemory?.() ?? { actors: 0, parked: 0 };
      this.set({ kind: 'actor' }, m.actors);
      this.set({ kind: 'parked' }, m.parked);
    },
  });

  // When each lifecycle in revocation entered `revoking`; one read of its audit trail after a restart.
  const revokingSince = new Map<string, number>();
  const revokingStart = async (row: TransitionRecord['row']): Promise<number | null> => {
    const events = await deps.store.events(row.subscriber_id);
    const first = events.find((e) => e.lifecycle_id === row.id && e.to_state === 'revoking');
    return first ? Date.parse(first.at) : null;
  };

  return {
    registry,
    onTransition({ audit, row, previous }: TransitionRecord) {
      figures.stale();
      transitions.inc({ event: audit.type, from: audit.from_state ?? 'none', to: row.state });
      if (audit.type === 'STEP_FAILED' && row.state === 'failed' && audit.detail) {
        const f = readContext(row).failure;
        if (f) failures.inc({ step: f.step, code: f.code });
      }
      const from = previous?.state ?? null;
      if (from === row.state) return;
      entered.inc({ state: row.state });
      if (row.state === 'allocated' && (from === null || from === 'pending') && row.allocated_at) {
        allocation.observe({ pool: row.pool }, Math.max(0, Date.parse(row.allocated_at) - Date.parse(row.created_at)) / 1000);
      } else if (row.state === 'revoking') {
        // A retried revocation (failed → revoking) still measures from its first entry.
        if (!revokingSince.has(row.id) && from !== 'failed') revokingSince.set(row.id, Date.parse(audit.at));
      } else if (row.state === 'revoked') {
        const known = revokingSince.get(row.id);
        revokingSince.delete(row.id);
        const end = Date.parse(row.revoked_at ?? audit.at);
        // A refused allocation goes to revoked without a revocation: nothing to measure.
        const observe = (start: number | null) => start !== null && revocation.observe({ pool: row.pool }, Math.max(0, end - start) / 1000);
        if (known !== undefined) observe(known);
        // Begun before a restart: the audit trail says when; the hook does not wait for the read.
        else void revokingStart(row).then(observe, () => undefined);
      }
    },
    onSessionOutcome(purpose: SessionPurpose, outcome: SessionOutcome) {
      sessionOutcomes.inc({ purpose, action: outcome.action, result: outcome.result });
    },
    /** One outside step finished (runtime/step-actors.ts), under its public name (machines/steps.ts). */
    onStep(step: string, outcome: StepOutcome, seconds: number) {
      stepDuration.observe({ step, outcome }, seconds);
    },
  };
}
