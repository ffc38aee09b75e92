import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createMetrics } from '../../runtime/metrics.ts';
import { IPAM_READ_MS } from '../../runtime/pool-figures.ts';
import type { IpamPort, PoolUtilization } from '../../services/ipam/port.ts';
import type { SessionOutcome } from '../../services/radius/port.ts';
import type { PoolFlow } from '../../store/counts.ts';
import type { AuditEntry } from '../../store/lifecycles.ts';
import { asyncOf } from '../../store/port.ts';
import { auditEntry, lifecycleRow } from '../support/lifecycle-rows.ts';
import { quietCounts } from '../support/metrics-rig.ts';

const test = suite('runtime metrics');
const NOW = '2026-03-10T12:00:00.000Z';

/** While set, every IPAM reading waits for it (a NetBox pool slower than a scrape). */
const slowIpam: { wait: Promise<void> | null } = { wait: null };

const POOLS: PoolUtilization[] = [
  { name: 'residential', prefix: '2001:db8::/40', prefixLength: 56, capacity: 65536, allocated: 12, heldDown: 3 },
  { name: 'business', prefix: '2001:db8:1000::/40', prefixLength: 48, capacity: 256, allocated: 5 },
];

function setup(
  opts: { counts?: Record<string, number>; pending?: number; shared?: number; flows?: PoolFlow[]; leaks?: number; events?: AuditEntry[]; now?: number; fleetWide?: () => boolean; ipamDown?: () => boolean } = {},
) {
  let utilizationCalls = 0;
  const store = asyncOf({ events: (_subscriberId: string) => opts.events ?? [] });
  const counts = quietCounts({
    byState: () => opts.counts ?? {},
    pending: () => opts.pending ?? 0,
    shared: () => opts.shared ?? 0,
    flows: () => opts.flows ?? [],
    leaksCounted: () => opts.leaks ?? 0,
  });
  const ipam = {
    utilization: async () => {
      utilizationCalls++;
      if (slowIpam.wait) await slowIpam.wait;
      if (opts.ipamDown?.()) throw new Error('NetBox GET /api/ipam/prefixes/: connect ECONNREFUSED 127.0.0.1:9');
      return POOLS;
    },
  } as unknown as IpamPort;
  const metrics = createMetrics({
    store,
    counts: asyncOf(counts),
    ipam,
    leaks: async () => 4,
    now: () => opts.now ?? Date.parse(NOW),
    ...(opts.fleetWide ? { fleetWide: opts.fleetWide } : {}),
  });
  return { metrics, utilizationCalls: () => utilizationCalls, scrape: () => metrics.registry.metrics() };
}

/** The exposition's sample lines of `name`, without the HELP and TYPE lines. */
const samples = (text: string, name: string) => text.split('\n').filter((l) => l.startsWith(`${name}{`) || l.startsWith(`${name} `));

test('pool gauges: capacity, allocated without quarantined, quarantined, utilization percent, from one IPAM read per scrape', async () => {
  const m = setup();
  const text = await m.scrape();
  assert.equal(samples(text, 'ipv6_pool_capacity_prefixes'), ['ipv6_pool_capacity_prefixes{pool="residential"} 65536', 'ipv6_pool_capacity_prefixes{pool="business"} 256']);
  assert.equal(samples(text, 'ipv6_pool_allocated_prefixes'), ['ipv6_pool_allocated_prefixes{pool="residential"} 9', 'ipv6_pool_allocated_prefixes{pool="business"} 5']);
  assert.equal(samples(text, 'ipv6_pool_quarantined_prefixes'), ['ipv6_pool_quarantined_prefixes{pool="residential"} 3', 'ipv6_pool_quarantined_prefixes{pool="business"} 0']);
  assert.equal(samples(text, 'ipv6_pool_utilization_percent'), [
    `ipv6_pool_utilization_percent{pool="residential"} ${(12 / 65536) * 100}`,
    `ipv6_pool_utilization_percent{pool="business"} ${(5 / 256) * 100}`,
  ]);
  assert.not.match(text, /pd_pool_/);
  assert.is(m.utilizationCalls(), 1);
});

test('IPAM unreadable (NetBox down): the scrape still answers, without the pool series, and ipv6_ipam_up says 0', async () => {
  let down = true;
  const m = setup({ ipamDown: () => down, counts: { active: 7 } });
  const text = await m.scrape();
  assert.equal(samples(text, 'ipv6_ipam_up'), ['ipv6_ipam_up 0']);
  assert.equal(samples(text, 'ipv6_pool_capacity_prefixes'), []);
  assert.equal(samples(text, 'ipv6_pool_exhaustion_forecast_seconds'), []);
  assert.equal(samples(text, 'ipv6_pool_figures_age_seconds'), [], 'no figures shown, no age');
  assert.ok(samples(text, 'ipv6_lifecycle_lifecycles').includes('ipv6_lifecycle_lifecycles{state="active"} 7'), 'the other series are all there');
  assert.match(text, /^process_cpu_user_seconds_total /m);
  down = false;
  await new Promise((r) => setTimeout(r, 1100));
  const back = await m.scrape();
  assert.equal(samples(back, 'ipv6_ipam_up'), ['ipv6_ipam_up 1']);
  assert.is(samples(back, 'ipv6_pool_capacity_prefixes').length, 2);
});

test('IPAM slow (a big NetBox pool): a scrape waits IPAM_READ_MS, then shows the last reading while the new one goes on', async () => {
  let release!: () => void;
  const m = setup({ ipamDown: () => false });
  assert.is(samples(await m.scrape(), 'ipv6_pool_capacity_prefixes').length, 2);
  slowIpam.wait = new Promise<void>((r) => (release = r));
  m.metrics.onTransition({ audit: auditEntry(lifecycleRow({ id: 'l1', state: 'allocated' }), 'ALLOCATED'), row: lifecycleRow({ id: 'l1', state: 'allocated' }), previous: null } as never);
  const started = Date.now();
  const text = await m.scrape();
  const took = Date.now() - started;
  assert.ok(took >= IPAM_READ_MS - 50 && took < IPAM_READ_MS + 1500, `the scrape waited ${took} ms`);
  assert.is(samples(text, 'ipv6_pool_capacity_prefixes').length, 2, 'the last reading');
  assert.equal(samples(text, 'ipv6_ipam_up'), ['ipv6_ipam_up 1']);
  release();
  slowIpam.wait = null;
});

test('exhaustion forecast: free units over the net rate of the last 7 days; +Inf when a pool is not growing', async () => {
  const flows: PoolFlow[] = [
    // 700 /56 allocated and 140 revoked over the week: 560 net, 80 a day.
    { pool: 'residential', prefix_length: 56, allocated: 700, revoked: 140, since: '2026-03-01T00' },
    // More revoked than allocated: shrinking.
    { pool: 'business', prefix_length: 48, allocated: 2, revoked: 3, since: '2026-03-05T00' },
  ];
  const text = await setup({ flows }).scrape();
  const [residential, business] = samples(text, 'ipv6_pool_exhaustion_forecast_seconds');
  const seconds = Number(residential!.split(' ')[1]);
  assert.ok(Math.abs(seconds - ((65536 - 12) / 80) * 86_400) < 1, residential);
  assert.is(business, 'ipv6_pool_exhaustion_forecast_seconds{pool="business"} +Inf');
});

test('exhaustion forecast counts a shorter prefix in units of the pool length, over the time since the oldest figure', async () => {
  // One /48 (256 units of /56) allocated one day before NOW.
  const flows: PoolFlow[] = [{ pool: 'residential', prefix_length: 48, allocated: 1, revoked: 0, since: '2026-03-09T12' }];
  const text = await setup({ flows }).scrape();
  const seconds = Number(samples(text, 'ipv6_pool_exhaustion_forecast_seconds')[0]!.split(' ')[1]);
  assert.ok(Math.abs(seconds - ((65536 - 12) / 256) * 86_400) < 1, String(seconds));
});

test('lifecycle gauges: every public state (0 when none), shared prefixes, pending lifecycles, leaks', async () => {
  const text = await setup({ counts: { active: 7, revoked: 2 }, pending: 1, shared: 2, leaks: 3 }).scrape();
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
  assert.equal(samples(text, 'ipv6_prefix_leak_total'), ['ipv6_prefix_leak_total 3']);
});

const at = (s: number) => new Date(Date.parse(NOW) + s * 1000).toISOString();

test('state_total counts lifecycles entering each state; a transition within a state enters nothing', async () => {
  const m = setup();
  const pending = lifecycleRow({ id: 'a', state: 'pending', created_at: at(0), updated_at: at(0) });
  const allocated = { ...pending, state: 'allocated', allocated_at: at(0.2), updated_at: at(0.2) };
  const radius = { ...allocated, updated_at: at(0.3) };
  m.metrics.onTransition({ row: pending, audit: auditEntry(pending, 'CREATED'), previous: null });
  m.metrics.onTransition({ row: allocated, audit: auditEntry(allocated, 'STEP_DONE', 'pending'), previous: pending });
  m.metrics.onTransition({ row: radius, audit: auditEntry(radius, 'STEP_DONE', 'allocated'), previous: allocated });
  const text = await m.scrape();
  const entered = samples(text, 'ipv6_lifecycle_state_total');
  assert.ok(entered.includes('ipv6_lifecycle_state_total{state="pending"} 1'), entered.join('\n'));
  assert.ok(entered.includes('ipv6_lifecycle_state_total{state="allocated"} 1'), entered.join('\n'));
  assert.ok(entered.includes('ipv6_lifecycle_state_total{state="revoked"} 0'), 'every state is exported from the start');
  assert.ok(samples(text, 'ipv6_allocation_duration_seconds_count').includes('ipv6_allocation_duration_seconds_count{pool="residential"} 1'));
  assert.ok(samples(text, 'ipv6_allocation_duration_seconds_bucket').includes('ipv6_allocation_duration_seconds_bucket{le="0.25",pool="residential"} 1'));
  assert.ok(samples(text, 'ipv6_allocation_duration_seconds_bucket').includes('ipv6_allocation_duration_seconds_bucket{le="0.1",pool="residential"} 0'));
});

test('revocation duration: from revoking entered to revoked, a retry after a failure still from the first entry', async () => {
  const m = setup();
  const active = lifecycleRow({ id: 'r', state: 'active' });
  const revoking = { ...active, state: 'revoking', updated_at: at(0) };
  const failed = { ...active, state: 'failed', updated_at: at(1) };
  const retried = { ...active, state: 'revoking', updated_at: at(20) };
  const revoked = { ...active, state: 'revoked', revoked_at: at(21), updated_at: at(21) };
  m.metrics.onTransition({ row: revoking, audit: auditEntry(revoking, 'REVOKE', 'active'), previous: active });
  m.metrics.onTransition({ row: failed, audit: auditEntry(failed, 'STEP_FAILED', 'revoking'), previous: revoking });
  m.metrics.onTransition({ row: retried, audit: auditEntry(retried, 'RETRY', 'failed'), previous: failed });
  m.metrics.onTransition({ row: revoked, audit: auditEntry(revoked, 'STEP_DONE', 'revoking'), previous: retried });
  const text = await m.scrape();
  assert.ok(samples(text, 'ipv6_revocation_duration_seconds_sum').includes('ipv6_revocation_duration_seconds_sum{pool="residential"} 21'), text);
});

test('revocation duration after a restart: measured from the revoking time in the audit trail', async () => {
  const active = lifecycleRow({ id: 'x', state: 'active' });
  const revoking = { ...active, state: 'revoking', updated_at: at(-5) };
  const m = setup({ events: [auditEntry(active, 'ACTIVATE', 'allocated'), auditEntry(revoking, 'REVOKE', 'active')] });
  // This process saw only the last transition.
  const revoked = { ...active, state: 'revoked', revoked_at: at(0.5), updated_at: at(0.5) };
  m.metrics.onTransition({ row: revoked, audit: auditEntry(revoked, 'STEP_DONE', 'revoking'), previous: { ...revoking, updated_at: at(0) } });
  // The hook does not wait for the audit trail's read: it lands in a later turn.
  await new Promise((resolve) => setImmediate(resolve));
  const text = await m.scrape();
  assert.ok(samples(text, 'ipv6_revocation_duration_seconds_sum').includes('ipv6_revocation_duration_seconds_sum{pool="residential"} 5.5'), text);
});

test('onStep feeds the step duration histogram by public step name and outcome', async () => {
  const m = setup();
  m.metrics.onStep('embedded_allocate', 'ok', 0.002);
  m.metrics.onStep('cpe_configure_pd', 'queued', 3);
  m.metrics.onStep('embedded_allocate', 'refused', 0.0005);
  const counts = samples(await m.scrape(), 'ipv6_lifecycle_step_duration_seconds_count');
  assert.equal(counts, [
    'ipv6_lifecycle_step_duration_seconds_count{step="embedded_allocate",outcome="ok"} 1',
    'ipv6_lifecycle_step_duration_seconds_count{step="cpe_configure_pd",outcome="queued"} 1',
    'ipv6_lifecycle_step_duration_seconds_count{step="embedded_allocate",outcome="refused"} 1',
  ]);
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
  const counted = samples(text, 'ipv6_lifecycle_radius_requests_total').filter((l) => !l.endsWith(' 0'));
  assert.equal(counted, [
    'ipv6_lifecycle_radius_requests_total{purpose="revoke",action="disconnect",result="no_answer"} 2',
    'ipv6_lifecycle_radius_requests_total{purpose="suspend",action="coa",result="ack"} 1',
  ]);
  // The results the alerts read are there at 0 before any request (review12/alerts-nas-first).
  assert.ok(samples(text, 'ipv6_lifecycle_radius_requests_total').includes('ipv6_lifecycle_radius_requests_total{purpose="revoke",action="coa",result="unsupported"} 0'));
});

test('several instances: a follower reports the fleet-wide gauges as 0 or not at all, the leader reports them, so sums over instances are right; the leak counter is the stored total on each', async () => {
  let leads = false;
  const m = setup({ counts: { active: 7 }, pending: 2, shared: 1, leaks: 3, fleetWide: () => leads });
  const follower = await m.scrape();
  assert.equal(samples(follower, 'ipv6_lifecycle_lifecycles').filter((l) => l.includes('"active"')), ['ipv6_lifecycle_lifecycles{state="active"} 0']);
  for (const name of ['ipv6_lifecycle_pending_lifecycles', 'ipv6_lifecycle_shared_prefixes', 'ipv6_lifecycle_leaked_prefixes', 'ipv6_instance_leader']) {
    assert.equal(samples(follower, name), [`${name} 0`], name);
  }
  for (const name of ['ipv6_pool_capacity_prefixes', 'ipv6_pool_utilization_percent', 'ipv6_pool_exhaustion_forecast_seconds', 'ipv6_pool_figures_age_seconds']) assert.equal(samples(follower, name), [], name);
  assert.equal(samples(follower, 'ipv6_ipam_up'), ['ipv6_ipam_up 0'], 'the leader reads IPAM and says how that went');
  assert.is(m.utilizationCalls(), 0, 'a follower does not even read the pools');
  // The stored total, on every instance: a new leader's would otherwise jump 0 → 3 and read as 3 new leaks.
  assert.equal(samples(follower, 'ipv6_prefix_leak_total'), ['ipv6_prefix_leak_total 3']);
  leads = true;
  const leader = await m.scrape();
  assert.equal(samples(leader, 'ipv6_lifecycle_lifecycles').filter((l) => l.includes('"active"')), ['ipv6_lifecycle_lifecycles{state="active"} 7']);
  assert.equal(samples(leader, 'ipv6_prefix_leak_total'), ['ipv6_prefix_leak_total 3']);
  assert.equal(samples(leader, 'ipv6_instance_leader'), ['ipv6_instance_leader 1']);
  assert.is(samples(leader, 'ipv6_pool_capacity_prefixes').length, 2);
  leads = false;
  assert.equal(samples(await m.scrape(), 'ipv6_pool_capacity_prefixes'), [], 'stepping down drops them again');
});

test.run();
