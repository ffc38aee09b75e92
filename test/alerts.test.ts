import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { parse } from 'yaml';
import { createMetrics } from '../runtime/metrics.ts';
import type { IpamPort } from '../services/ipam/port.ts';
import type { MetricCounts } from '../store/counts.ts';
import type { LifecycleStore } from '../store/lifecycles.ts';
import { toolAvailable } from './support/tools.ts';

const test = suite('alerts/ipv6-lifecycle.rules.yml');
const rulesFile = 'alerts/ipv6-lifecycle.rules.yml';

test('every metric a rule reads is one the service exports', async () => {
  const rules = parse(readFileSync(rulesFile, 'utf8')) as { groups: { rules: { expr: string; record?: string }[] }[] };
  const recorded = new Set(rules.groups.flatMap((g) => g.rules.flatMap((r) => (r.record ? [r.record] : []))));
  const used = new Set(rules.groups.flatMap((g) => g.rules.flatMap((r) => r.expr.match(/[a-z_][a-z0-9_:]*(?=\s*[{/>)\s]|$)/g) ?? [])));
  const store = { events: () => [] } as unknown as LifecycleStore;
  const counts = { byState: () => ({}), pending: () => 0, shared: () => 0, flows: () => [], leaksCounted: () => 0 } as unknown as MetricCounts;
  const ipam = { utilization: async () => [] } as unknown as IpamPort;
  const { registry } = createMetrics({ store, counts, ipam, leaks: async () => 0 });
  const exported = new Set((await registry.getMetricsAsJSON()).map((m) => m.name));
  const promql = new Set(['sum', 'by', 'increase', 'action', 'state', 'result', 'pool']);
  const unknown = [...used].filter((n) => !exported.has(n) && !recorded.has(n) && !promql.has(n));
  assert.equal(unknown, [], `rules read metrics nobody exports: ${unknown.join(', ')}`);
  assert.ok(used.has('ipv6_pool_allocated_prefixes') && used.has('ipv6_lifecycle_leaked_prefixes'));
});

test('promtool check rules and test rules', () => {
  if (!toolAvailable('promtool check rules / test rules', 'promtool', 'apt-get install prometheus')) return;
  execFileSync('promtool', ['check', 'rules', rulesFile], { stdio: 'pipe' });
  const out = execFileSync('promtool', ['test', 'rules', 'alerts/ipv6-lifecycle.rules.test.yml'], { stdio: 'pipe' }).toString();
  assert.match(out, /SUCCESS/);
});

test.run();
