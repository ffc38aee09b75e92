import { Counter, Gauge, Registry, collectDefaultMetrics, type Metric } from 'prom-client';
import type { IpamPort, PoolUtilization } from '../services/ipam/port.ts';
import type { SessionOutcome } from '../services/radius/port.ts';
import type { LifecycleStore } from '../store/lifecycles.ts';
import { LIFECYCLE_STATES, type SessionPurpose } from '../machines/types.ts';
import type { TransitionRecord } from './actor-host.ts';
import { readContext } from './projection.ts';

/** The Prometheus registry and the hooks that keep its lifecycle series current. */
export function createMetrics(deps: { store: LifecycleStore; ipam: IpamPort; leaks: () => Promise<number> }) {
  const registry = new Registry();
  // One IPAM read per scrape serves every pool gauge.
  let cached: { at: number; value: ReturnType<IpamPort['utilization']> } | null = null;
  const utilization = () => {
    if (!cached || Date.now() - cached.at > 1000) cached = { at: Date.now(), value: deps.ipam.utilization() };
    return cached.value;
  };
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
  const failures = new Counter({
    name: 'ipv6_lifecycle_step_failures_total',
    help: 'Outside steps that exhausted their retries, by step and error code',
    labelNames: ['step', 'code'] as const,
    registers: [registry],
  });
  const sessionOutcomes = new Counter({
    name: 'ipv6_lifecycle_radius_requests_total',
    help: 'RFC 5176 requests to NASes, by purpose and outcome (no_answer: the NAS never answered)',
    labelNames: ['purpose', 'action', 'result'] as const,
    registers: [registry],
  });
  new Gauge({
    name: 'ipv6_lifecycle_lifecycles',
    help: 'Lifecycles by public state',
    labelNames: ['state'] as const,
    registers: [registry],
    collect() {
      const counts = deps.store.countByState();
      for (const state of LIFECYCLE_STATES) this.set({ state }, counts[state] ?? 0);
    },
  });
  new Gauge({
    name: 'ipv6_lifecycle_shared_prefixes',
    help: 'Prefixes that more than one live lifecycle shows (should be 0)',
    registers: [registry],
    collect() {
      this.set(deps.store.sharedPrefixes().length);
    },
  });
  new Gauge({
    name: 'ipv6_lifecycle_pending_lifecycles',
    help: 'Lifecycles with a CPE step accepted but not confirmed (the CPE was offline)',
    registers: [registry],
    collect() {
      this.set(deps.store.countPending());
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
        for (const u of await utilization()) if (!u.draining) this.set({ pool: u.name }, value(u));
      },
    });
  poolGauge('pd_pool_capacity_prefixes', 'Prefixes of the delegated length a pool holds', (u) => u.capacity);
  poolGauge('pd_pool_allocated_prefixes', 'Prefixes allocated from a pool', (u) => u.allocated);
  poolGauge(
    'pd_pool_held_down_prefixes',
    'Released prefixes of a pool still in their hold-down (counted in pd_pool_allocated_prefixes)',
    (u) => u.heldDown ?? 0,
  );
  new Gauge({
    name: 'ipv6_lifecycle_leaked_prefixes',
    help: 'Prefixes IPAM holds for this service that no live lifecycle holds',
    registers: [registry],
    async collect() {
      this.set(await deps.leaks());
    },
  });

  return {
    registry,
    onTransition({ audit, row }: TransitionRecord) {
      transitions.inc({ event: audit.type, from: audit.from_state ?? 'none', to: row.state });
      if (audit.type === 'STEP_FAILED' && row.state === 'failed' && audit.detail) {
        const f = readContext(row).failure;
        if (f) failures.inc({ step: f.step, code: f.code });
      }
    },
    onSessionOutcome(purpose: SessionPurpose, outcome: SessionOutcome) {
      sessionOutcomes.inc({ purpose, action: outcome.action, result: outcome.result });
    },
  };
}
