import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createMetrics } from '../../runtime/metrics.ts';
import type { IpamPort, PoolUtilization } from '../../services/ipam/port.ts';
import type { SessionOutcome } from '../../services/radius/port.ts';
import type { LifecycleStore } from '../../store/lifecycles.ts';
import { auditEntry, lifecycleRow } from '../support/lifecycle-rows.ts';

const test = suite('runtime metrics');

const POOLS: PoolUtilization[] = [
  { name: 'residential', prefix: '2001:db8::/40', prefixLength: 56, capacity: 65536, allocated: 12, heldDown: 3 },
  { name: 'business', prefix: '2001:db8:1000::/40', prefixLength: 48, capacity: 256, allocated: 5 },
];

function setup(opts: { counts?: Record<string, number>; pending?: number; shared?: number } = {}) {
  let utilizationCalls = 0;
  const store = {
    countByState: () => opts.counts ?? {},
    countPending: () => opts.pending ?? 0,
    sharedPrefixes: () => Array.from({ length: opts.shared ?? 0 }, (_, i) => ({ prefix: `2001:db8:${i}::/56`, lifecycle_ids: ['a', 'b'] })),
  } as unknown as LifecycleStore;
  const ipam = {
    utilization: async () => {
      utilizationCalls++;
      return POOLS;
    },
  } as unknown as IpamPort;
  const metrics = createMetrics({ store, ipam, leaks: async () => 4 });
  return { metrics, utilizationCalls: () => utilizationCalls, scrape: () => metrics.registry.metrics() };
}

/** The exposition's sample lines of `name`, without the HELP and TYPE lines. */
const samples = (text: string, name: string) => text.split('\n').filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));

test('pool gauges show each pool’s capacity, allocated and held-down prefixes from one IPAM read per scrape', async () => {
  const m = setup();
  const text = await m.scrape();
  assert.equal(samples(text, 'pd_pool_capacity_prefixes'), ['pd_pool_capacity_prefixes{pool="residential"} 65536', 'pd_pool_capacity_prefixes{pool="business"} 256']);
  assert.equal(samples(text, 'pd_pool_allocated_prefixes'), ['pd_pool_allocated_prefixes{pool="residential"} 12', 'pd_pool_allocated_prefixes{pool="business"} 5']);
  assert.equal(samples(text, 'pd_pool_held_down_prefixes'), ['pd_pool_held_down_prefixes{pool="residential"} 3', 'pd_pool_held_down_prefixes{pool="business"} 0']);
  assert.is(m.utilizationCalls(), 1);
});

test('lifecycle gauges: every public state (0 when none), shared prefixes, pending lifecycles, leaks', async () => {
  const text = await setup({ counts: { active: 7, revoked: 2 }, pending: 1, shared: 2 }).scrape();
  assert.equal(samples(text, 'ipv6_lifecycle_lifecycles'), [
    'ipv6_lifecycle_lifecycles{state="pending"} 0',
    'ipv6_lifecycle_lifecycles{state="allocated"} 0',
    'ipv6_lifecycle_lifecycles{state="active"} 7',
    'ipv6_lifecycle_lifecycles{state="suspended"} 0',
    'ipv6_lifecycle_lifecycles{state="revoking"} 0',
    'ipv6_lifecycle_lifecycles{state="revoked"} 2',
    'ipv6_lifecycle_lifecycles{state="failed"} 0',
  ]);
  assert.equal(samples(text, 'ipv6_lifecycle_shared_prefixes'), ['ipv6_lifecycle_shared_prefixes 2']);
  assert.equal(samples(text, 'ipv6_lifecycle_pending_lifecycles'), ['ipv6_lifecycle_pending_lifecycles 1']);
  assert.equal(samples(text, 'ipv6_lifecycle_leaked_prefixes'), ['ipv6_lifecycle_leaked_prefixes 4']);
});

test('onTransition counts transitions, and a step that sent the lifecycle to failed by its step and code', async () => {
  const m = setup();
  const failure = { step: 'radius_write_reply', code: 'upstream_unavailable', message: 'down', attempts: 6, at: '2026-01-01T00:00:00.000Z' };
  const failed = lifecycleRow({ id: 'f', state: 'failed' }, { failure });
  m.metrics.onTransition({ row: failed, audit: auditEntry(failed, 'STEP_FAILED', 'active', { state: 'failed' }), previous: null });
  // A step that failed inside an update rolls back instead: the lifecycle stays active and nothing is counted.
  const rolledBack = lifecycleRow({ id: 'r', state: 'active' }, { failure: null, lastError: failure });
  m.metrics.onTransition({ row: rolledBack, audit: auditEntry(rolledBack, 'STEP_FAILED', 'active', { state: 'active' }), previous: null });
  const text = await m.scrape();
  assert.equal(samples(text, 'ipv6_lifecycle_step_failures_total'), ['ipv6_lifecycle_step_failures_total{step="radius_write_reply",code="upstream_unavailable"} 1']);
  assert.equal(samples(text, 'ipv6_lifecycle_transitions_total'), ['ipv6_lifecycle_transitions_total{event="STEP_FAILED",from="active",to="failed"} 1', 'ipv6_lifecycle_transitions_total{event="STEP_FAILED",from="active",to="active"} 1']);
});

test('onSessionOutcome counts RFC 5176 requests by purpose, action and result', async () => {
  const m = setup();
  const outcome: SessionOutcome = { sessionId: 's1', nas: '192.0.2.1', action: 'disconnect', attempts: 3, result: 'no_answer', errorCause: null };
  m.metrics.onSessionOutcome('revoke', outcome);
  m.metrics.onSessionOutcome('revoke', { ...outcome, sessionId: 's2' });
  m.metrics.onSessionOutcome('suspend', { ...outcome, action: 'coa', result: 'ack' });
  const text = await m.scrape();
  assert.equal(samples(text, 'ipv6_lifecycle_radius_requests_total'), [
    'ipv6_lifecycle_radius_requests_total{purpose="revoke",action="disconnect",result="no_answer"} 2',
    'ipv6_lifecycle_radius_requests_total{purpose="suspend",action="coa",result="ack"} 1',
  ]);
});

test.run();
