// Each metric of issue 9 moves with the operation that should move it, through the real service
// (compose, actor host, store triggers) and GET /metrics.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { BASE, gatedCpe, pollUntil, startHarness, type Harness } from './support.ts';

const test = suite('GET /metrics: each metric moves with its operation');
let h: Harness;
test.after.each(async () => {
  await h?.close();
});

/** The value of one sample (`name{labels}`), 0 when absent. */
async function value(series: string): Promise<number> {
  const text = (await h.get('/metrics', { token: null })).text;
  const line = text.split('\n').find((l) => l.startsWith(`${series} `));
  const v = line?.slice(series.length + 1);
  return v === undefined ? 0 : v === '+Inf' ? Infinity : Number(v);
}

test('allocate moves state_total{allocated}, the allocation histogram, the pool’s allocated units and its forecast', async () => {
  h = await startHarness();
  const before = {
    entered: await value('ipv6_lifecycle_state_total{state="allocated"}'),
    histogram: await value('ipv6_allocation_duration_seconds_count{pool="residential"}'),
    allocated: await value('ipv6_pool_allocated_prefixes{pool="residential"}'),
    lifecycles: await value('ipv6_lifecycle_lifecycles{state="allocated"}'),
  };
  assert.is(await value('ipv6_pool_exhaustion_forecast_seconds{pool="residential"}'), Infinity, 'nothing allocated yet: not growing');
  for (const id of ['a1', 'a2']) assert.is((await h.post('allocate', { subscriber_id: id })).status, 201);
  assert.is(await value('ipv6_lifecycle_state_total{state="allocated"}'), before.entered + 2);
  assert.is(await value('ipv6_allocation_duration_seconds_count{pool="residential"}'), before.histogram + 2);
  assert.is(await value('ipv6_pool_allocated_prefixes{pool="residential"}'), before.allocated + 2);
  assert.is(await value('ipv6_lifecycle_lifecycles{state="allocated"}'), before.lifecycles + 2);
  assert.is(await value('ipv6_pool_utilization_percent{pool="residential"}'), (2 / 65536) * 100);
  const forecast = await value('ipv6_pool_exhaustion_forecast_seconds{pool="residential"}');
  assert.ok(Number.isFinite(forecast) && forecast > 0, `allocations grow: a finite forecast, got ${forecast}`);
  assert.ok((await value('ipv6_lifecycle_step_duration_seconds_count{step="fake_allocate",outcome="ok"}')) >= 2, 'the allocate steps are timed under their public name');
});

test('revoke moves the revocation histogram, and the pool’s quarantined units up while it runs and back once it has ended', async () => {
  const gate = { g: null as ReturnType<typeof gatedCpe> | null };
  h = await startHarness({ wrapCpe: (port) => (gate.g = gatedCpe(port)).port });
  assert.is((await h.post('allocate', { subscriber_id: 'r' })).status, 201);
  assert.is((await h.post('activate', { subscriber_id: 'r', username: 'u', cpe_id: 'CPE-1' })).status, 200);
  assert.is(await value('ipv6_pool_quarantined_prefixes{pool="residential"}'), 0);
  gate.g!.close();
  assert.is((await h.request('POST', `${BASE}/revoke?wait=0`, { json: { subscriber_id: 'r', reason: 'test' } })).status, 202);
  // The release has run (the prefix is quarantined); the CPE step is held.
  await pollUntil(h, '/metrics', () => h.ipam.calls.some((c) => c.method === 'release'));
  assert.is(await value('ipv6_pool_quarantined_prefixes{pool="residential"}'), 1);
  assert.is(await value('ipv6_pool_allocated_prefixes{pool="residential"}'), 0);
  assert.is(await value('ipv6_pool_utilization_percent{pool="residential"}'), (1 / 65536) * 100, 'quarantined space is not available');
  assert.is(await value('ipv6_revocation_duration_seconds_count{pool="residential"}'), 0);
  gate.g!.open();
  await pollUntil(h, `${BASE}/lifecycle/r`, (b) => b.state === 'revoked');
  assert.is(await value('ipv6_pool_quarantined_prefixes{pool="residential"}'), 0);
  assert.is(await value('ipv6_revocation_duration_seconds_count{pool="residential"}'), 1);
  assert.is(await value('ipv6_lifecycle_state_total{state="revoked"}'), 1);
  assert.ok((await value('ipv6_lifecycle_step_duration_seconds_count{step="cpe_remove_ipv6",outcome="ok"}')) >= 1);
});

test.run();
