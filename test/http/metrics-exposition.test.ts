// The live /metrics exposition, as Prometheus will scrape it, passes `promtool check metrics`
// (its lint: naming, suffixes, HELP lines). Lifecycles in several states and a failed step first,
// so the labelled series are present, not only their HELP lines.
import { spawnSync } from 'node:child_process';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ServiceError } from '../../services/errors.ts';
import { toolAvailable } from '../support/tools.ts';
import { startHarness, type Harness } from './support.ts';

const test = suite('GET /metrics exposition');
let h: Harness;
test.before(async () => {
  h = await startHarness();
});
test.after(async () => {
  await h.close();
});

test('promtool check metrics exits 0 on the live exposition', async () => {
  for (const id of ['m1', 'm2', 'm3']) assert.is((await h.post('allocate', { subscriber_id: id })).status, 201);
  assert.is((await h.post('activate', { subscriber_id: 'm2', username: 'u2', cpe_id: 'OUI-PC-SN2' })).status, 200);
  h.ipam.failNext('release', { error: () => new ServiceError('upstream_unavailable', 'down', { retryable: false }), times: 5 });
  await h.post('revoke', { subscriber_id: 'm3' });
  const r = await h.get('/metrics', { token: null });
  assert.is(r.status, 200);
  assert.match(r.text, /^ipv6_lifecycle_lifecycles\{state="active"\} 1$/m);
  // Issue 9's names, with samples (not only HELP lines), so promtool lints them too.
  assert.match(r.text, /^ipv6_lifecycle_state_total\{state="allocated"\} 3$/m);
  assert.match(r.text, /^ipv6_allocation_duration_seconds_bucket\{le="60",pool="residential"\} 3$/m);
  assert.match(r.text, /^ipv6_lifecycle_step_duration_seconds_count\{step="fake_release",outcome="error"\} 1$/m);
  assert.match(r.text, /^ipv6_pool_utilization_percent\{pool="residential"\} /m);
  assert.match(r.text, /^ipv6_pool_exhaustion_forecast_seconds\{pool="residential"\} /m);
  assert.match(r.text, /^ipv6_pool_quarantined_prefixes\{pool="residential"\} /m);
  assert.match(r.text, /^ipv6_prefix_leak_total 0$/m);
  assert.match(r.text, /^ipv6_pool_figures_age_seconds \d/m);
  if (!toolAvailable('promtool check metrics', 'promtool', 'apt-get install prometheus')) return;
  const lint = spawnSync('promtool', ['check', 'metrics'], { input: r.text, encoding: 'utf8' });
  assert.is(lint.status, 0, `promtool check metrics:\n${lint.stdout}${lint.stderr}`);
});

test.run();
