// The metrics of runtime/metrics.ts over stand-ins: kept counts that hold nothing unless given, and
// an IPAM that only reads its pools' figures. For the tests of what a scrape shows.
import { createMetrics } from '../../runtime/metrics.ts';
import type { IpamPort, PoolUtilization } from '../../services/ipam/port.ts';
import type { MetricCounts } from '../../store/counts.ts';
import { asyncOf } from '../../store/port.ts';

/** Kept counts of an empty store, with `given` in place of any of them. */
export function quietCounts(given: Partial<MetricCounts> = {}): MetricCounts {
  return {
    byState: () => ({}),
    pending: () => 0,
    shared: () => 0,
    flows: () => [],
    leaksCounted: () => 0,
    leak: () => undefined,
    failedPage: () => [],
    replaceUncounted: () => undefined,
    lastLeakCheck: () => null,
    saveLeakCheck: () => undefined,
    ...given,
  };
}

/** A scrape of the metrics over an IPAM whose pools' figures `utilization` reads (`fleetWide`: the leader's, or not). */
export function scrapeOver(utilization: () => Promise<PoolUtilization[]>, fleetWide?: () => boolean): () => Promise<string> {
  const metrics = createMetrics({
    store: asyncOf({ events: () => [] }) as never,
    counts: asyncOf(quietCounts()),
    ipam: { utilization } as unknown as IpamPort,
    leaks: async () => 0,
    fleetWide,
  });
  return () => metrics.registry.metrics();
}
