import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { parse } from 'yaml';
import { startMonitoredService } from './support/monitored-service.ts';
import { declaredNames, metricNames } from './support/promql-names.ts';
import { toolAvailable } from './support/tools.ts';

const test = suite('alerts/ipv6-lifecycle.rules.yml');
const rulesFile = 'alerts/ipv6-lifecycle.rules.yml';
const rules = (parse(readFileSync(rulesFile, 'utf8')) as { groups: { rules: { expr: string; alert?: string; record?: string }[] }[] }).groups.flatMap((g) => g.rules);

test('every metric a rule reads is one the running service declares in GET /metrics', async () => {
  const recorded = new Set(rules.flatMap((r) => (r.record ? [r.record] : [])));
  const used = new Set(rules.flatMap((r) => metricNames(r.expr)));
  const service = await startMonitoredService(() => ({}));
  let exposition: string;
  try {
    exposition = await service.metrics();
  } finally {
    await service.close();
  }
  const declared = declaredNames(exposition);
  const unknown = [...used].filter((n) => !declared.has(n) && !recorded.has(n));
  assert.equal(unknown, [], `rules read metrics the service does not export: ${unknown.join(', ')}`);
  for (const name of ['ipv6_pool_utilization_percent', 'ipv6_prefix_leak_total', 'ipv6_lifecycle_step_duration_seconds_count']) assert.ok(used.has(name), name);
});

test('every alert has a promtool test case; promtool check rules and test rules pass', () => {
  const cases = readFileSync('alerts/ipv6-lifecycle.rules.test.yml', 'utf8');
  const untested = rules.flatMap((r) => (r.alert && !cases.includes(`alertname: ${r.alert}\n`) ? [r.alert] : []));
  assert.equal(untested, [], `alerts without a case: ${untested.join(', ')}`);
  if (!toolAvailable('promtool check rules / test rules', 'promtool', 'apt-get install prometheus')) return;
  execFileSync('promtool', ['check', 'rules', rulesFile], { stdio: 'pipe' });
  const out = execFileSync('promtool', ['test', 'rules', 'alerts/ipv6-lifecycle.rules.test.yml'], { stdio: 'pipe' }).toString();
  assert.match(out, /SUCCESS/);
});

test.run();
