import { execFileSync } from 'node:child_process';
import { readFileSync, readdirSync } from 'node:fs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { parse } from 'yaml';
import { startMonitoredService } from './support/monitored-service.ts';
import { declaredNames, metricNames } from './support/promql-names.ts';
import { toolAvailable } from './support/tools.ts';

const test = suite('alerts/ipv6-lifecycle.rules.yml');
const rulesFile = 'alerts/ipv6-lifecycle.rules.yml';
// Every promtool case file next to the rules (alerts/*.test.yml).
const caseFiles = readdirSync('alerts')
  .filter((f) => f.endsWith('.test.yml'))
  .map((f) => `alerts/${f}`);
// Series Prometheus makes for every target itself, not the service's exposition.
const SCRAPE_SERIES = new Set(['up']);
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
  const unknown = [...used].filter((n) => !declared.has(n) && !recorded.has(n) && !SCRAPE_SERIES.has(n));
  assert.equal(unknown, [], `rules read metrics the service does not export: ${unknown.join(', ')}`);
  for (const name of ['ipv6_pool_utilization_percent', 'ipv6_prefix_leak_total', 'ipv6_lifecycle_step_duration_seconds_count']) assert.ok(used.has(name), name);
});

test('every alert has a promtool test case; promtool check rules and test rules pass', () => {
  const cases = caseFiles.map((f) => readFileSync(f, 'utf8')).join('\n');
  const untested = rules.flatMap((r) => (r.alert && !cases.includes(`alertname: ${r.alert}\n`) ? [r.alert] : []));
  assert.equal(untested, [], `alerts without a case: ${untested.join(', ')}`);
  if (!toolAvailable('promtool check rules / test rules', 'promtool', 'apt-get install prometheus')) return;
  execFileSync('promtool', ['check', 'rules', rulesFile], { stdio: 'pipe' });
  for (const file of caseFiles) {
    const out = execFileSync('promtool', ['test', 'rules', file], { stdio: 'pipe' }).toString();
    assert.match(out, /SUCCESS/, file);
  }
});

test("the rules on `up` name the scrape job of the README's scrape config, and the README says to keep them in step", () => {
  const readme = readFileSync('README.md', 'utf8');
  const jobName = readme.match(/scrape_configs:\n\s+- job_name: (\S+)/)?.[1];
  assert.ok(jobName, 'a job_name in the README scrape config');
  const onUp = rules.filter((r) => metricNames(r.expr).includes('up'));
  assert.equal(onUp.map((r) => r.alert).sort(), ['Ipv6LifecycleDown', 'Ipv6LifecycleTargetMissing']);
  for (const r of onUp) assert.match(r.expr, `up{job="${jobName}"}`, r.alert);
  assert.match(readme, /renam\w+ the scrape job[^.]*Ipv6LifecycleDown/);
});

test.run();
