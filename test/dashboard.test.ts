// dashboards/ipv6-lifecycle.json over live metrics only: every panel's PromQL parses (promtool,
// as recording rules), every metric it reads has samples in the service's exposition after a
// lifecycle run (allocate, activate, suspend, reactivate, revoke; an offline CPE; a failing ACS),
// and a real Prometheus scraping that service answers every panel's query with data.
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { stringify } from 'yaml';
import { startGenieacsNbi, type GenieacsNbi } from './support/genieacs-nbi.ts';
import { metricNames, sampledNames } from './support/promql-names.ts';
import { startMonitoredService, type MonitoredService } from './support/monitored-service.ts';
import { PROMETHEUS, eventually, query, startPrometheus, type Server } from './support/prometheus.ts';
import { startStandInNas, type StandInNas } from './support/stand-in-nas.ts';
import { toolAvailable } from './support/tools.ts';

interface Panel {
  type: string;
  title: string;
  id: number;
  datasource?: { type: string; uid: string };
  targets?: { refId: string; expr: string; datasource?: { uid: string } }[];
  panels?: Panel[];
}
const dashboard = JSON.parse(readFileSync('dashboards/ipv6-lifecycle.json', 'utf8')) as {
  __inputs: { name: string; pluginId: string }[];
  schemaVersion: number;
  templating: { list: { name: string; query: { query: string } }[] };
  panels: Panel[];
};
const panels = dashboard.panels.flatMap((p) => [p, ...(p.panels ?? [])]);
const targets = panels.flatMap((p) => (p.targets ?? []).map((t) => ({ panel: p.title, ref: t.refId, expr: t.expr })));

/** The panel's PromQL as Grafana sends it: its variables filled in. */
const resolve = (expr: string) => expr.replaceAll('$__rate_interval', '1m').replaceAll('$__range', '5m').replaceAll('$__interval', '15s').replaceAll('$pool', '.*');

const statics = suite('dashboards/ipv6-lifecycle.json');

statics('a Grafana 10 model on a ${DS_PROMETHEUS} input, every query on it', () => {
  assert.equal(dashboard.__inputs.map((i) => [i.name, i.pluginId]), [['DS_PROMETHEUS', 'prometheus']]);
  assert.ok(dashboard.schemaVersion >= 38, `schemaVersion ${dashboard.schemaVersion}`);
  const ids = panels.map((p) => p.id);
  assert.is(new Set(ids).size, ids.length, 'panel ids are unique');
  for (const p of panels.filter((p) => p.targets)) {
    assert.is(p.datasource?.uid, '${DS_PROMETHEUS}', p.title);
    for (const t of p.targets!) assert.is(t.datasource?.uid, '${DS_PROMETHEUS}', `${p.title} ${t.refId}`);
  }
});

statics('the issue’s panels: utilization with forecast, states, p50/p99 durations, failures, leaks, pending, NAS', () => {
  const reads = (title: string) => targets.filter((t) => t.panel === title).flatMap((t) => metricNames(t.expr));
  assert.ok(reads('Pool utilization').includes('ipv6_pool_utilization_percent'));
  assert.ok(reads('Exhaustion forecast').includes('ipv6_pool_exhaustion_forecast_seconds'));
  assert.ok(reads('Pool figures age').includes('ipv6_pool_figures_age_seconds'));
  assert.ok(reads('State entries').includes('ipv6_lifecycle_state_total'));
  assert.ok(reads('Lifecycles by state').includes('ipv6_lifecycle_lifecycles'));
  for (const [title, metric] of [['Allocation duration', 'ipv6_allocation_duration_seconds_bucket'], ['Revocation duration', 'ipv6_revocation_duration_seconds_bucket']] as const) {
    const exprs = targets.filter((t) => t.panel === title).map((t) => t.expr);
    assert.ok(exprs.some((e) => e.startsWith('histogram_quantile(0.5,') && e.includes(metric)), `${title} p50`);
    assert.ok(exprs.some((e) => e.startsWith('histogram_quantile(0.99,') && e.includes(metric)), `${title} p99`);
  }
  assert.ok(reads('Step failures').includes('ipv6_lifecycle_step_failures_total'));
  assert.ok(reads('Leaked prefixes').includes('ipv6_prefix_leak_total'));
  assert.ok(reads('Pending work (CPE, IPAM give-back)').includes('ipv6_lifecycle_pending_lifecycles'));
  assert.ok(reads('NAS outcomes').includes('ipv6_lifecycle_radius_requests_total'));
});

statics('metricNames reads names, not functions, labels or keywords', () => {
  assert.equal(
    metricNames('histogram_quantile(0.99, sum by (le, step) (rate(a_bucket{pool=~"x|y"}[5m]))) / on(step) group_left b_total > 1e3 unless c < 14 * 86400 or x:y:ratio offset 5m'),
    ['a_bucket', 'b_total', 'c', 'x:y:ratio'],
  );
});

statics('every panel query parses (promtool check rules, as recording rules)', () => {
  if (!toolAvailable('dashboard queries parse', 'promtool', 'apt-get install prometheus')) return;
  const dir = mkdtempSync(join(tmpdir(), 'dashboard-rules-'));
  try {
    const file = join(dir, 'panels.rules.yml');
    const rules = targets.map((t, i) => ({ record: `dashboard:panel_${i}`, expr: resolve(t.expr) }));
    rules.push({ record: 'dashboard:pool_variable', expr: dashboard.templating.list[0]!.query.query.replace(/^label_values\(([^,]+),.*$/, '$1') });
    writeFileSync(file, stringify({ groups: [{ name: 'dashboard', rules }] }));
    const out = execFileSync('promtool', ['check', 'rules', file], { stdio: 'pipe' }).toString();
    assert.match(out, `SUCCESS: ${rules.length} rules found`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

statics.run();

interface Ctx {
  acs: GenieacsNbi;
  nas: StandInNas;
  service: MonitoredService;
  exposition: string;
  runEnd: number;
  prometheus: Server;
}
const SECRET = 'dashboard-nas-secret';

if (toolAvailable('dashboard queries against Prometheus', PROMETHEUS, 'apt-get install prometheus')) {
  const live = suite<Ctx>('dashboards/ipv6-lifecycle.json over a running service', {} as Ctx);

  live.before(async (ctx) => {
    // uvu drops what a `before` hook throws without a word: say it here (the suite still fails).
    await setUp(ctx).catch((err) => {
      console.error('dashboard live set-up failed:', err);
      throw err;
    });
  });

  /** Waits until Prometheus has scraped `scrapes` times since `since` (ms; the scrapes are 1 s apart). */
  const scrapedAfter = (ctx: Ctx, since: number, scrapes: number) =>
    eventually(`${scrapes} scrape(s) after the run`, 15_000, async () => {
      const [last] = await query(ctx.prometheus.url, 'timestamp(up)');
      return last !== undefined && Number(last.value[1]) > since / 1000 + (scrapes - 1);
    });

  async function setUp(ctx: Ctx): Promise<void> {
    ctx.acs = await startGenieacsNbi();
    ctx.nas = await startStandInNas(SECRET);
    ctx.service = await startMonitoredService((dir) => ({
      pools: [{ name: 'residential', prefix: '2001:db8::/48', prefix_length: 56, hold_down_s: 0 }],
      genieacs: { url: ctx.acs.url, timeout_ms: 2000, task_timeout_ms: 200 },
      radius: {
        sql: { path: join(dir, 'radius.sqlite'), create_schema: true },
        dynamic_authorization: { timeout_ms: 50, retries: 0, nas: [{ address: '127.0.0.1', port: ctx.nas.port, secret: SECRET }] },
      },
    }));
    const { service, acs } = ctx;
    // Prometheus scrapes from before the run, so the panels' rates see it happen.
    ctx.prometheus = await startPrometheus({ target: service.target });
    await eventually('a first scrape of the service', 15_000, async () => (await query(ctx.prometheus.url, 'up == 1')).length === 1);
    const ok = async (verb: string, body: object, state: string) => {
      const r = await service.call('POST', `${verb}?wait=10000`, body);
      assert.is(r.body.state, state, `${verb}: ${JSON.stringify(r.body)}`);
    };
    // Twice, with a scrape between, so that every counter and bucket moves inside a rate's window.
    const round = async (n: number) => {
      // d<n>a goes the whole way with an online CPE and an open session at the NAS.
      const a = `d${n}a`;
      await ok('allocate', { subscriber_id: a }, 'allocated');
      await ok('activate', { subscriber_id: a, username: `${a}@isp`, cpe_id: acs.addDevice().id }, 'active');
      const radius = new Database(join(service.dir, 'radius.sqlite'));
      radius
        .prepare(`INSERT INTO radacct (acctsessionid, acctuniqueid, username, nasipaddress, acctstarttime) VALUES (?, ?, ?, '127.0.0.1', datetime('now'))`)
        .run(`s-${a}`, `u-${a}`, `${a}@isp`);
      radius.close();
      await ok('suspend', { subscriber_id: a }, 'suspended');
      await ok('reactivate', { subscriber_id: a }, 'active');
      await ok('revoke', { subscriber_id: a }, 'revoked');
      // d<n>b: an offline CPE, a pending step. d<n>c: an ACS that keeps failing, a failed step.
      await ok('allocate', { subscriber_id: `d${n}b` }, 'allocated');
      await ok('activate', { subscriber_id: `d${n}b`, username: `d${n}b@isp`, cpe_id: acs.addDevice({ mode: 'offline' }).id }, 'active');
      await ok('allocate', { subscriber_id: `d${n}c` }, 'allocated');
      acs.failNext(2, { method: 'POST', status: 500 }); // both attempts of the retry policy
      assert.is((await service.call('POST', 'activate', { subscriber_id: `d${n}c`, username: `d${n}c@isp`, cpe_id: acs.addDevice().id })).status, 502);
      assert.is((await service.call('GET', `lifecycle/d${n}c`)).body.state, 'failed');
    };
    await round(1);
    await scrapedAfter(ctx, Date.now(), 1);
    await round(2);
    assert.ok(ctx.nas.received.length >= 6, 'the NAS was told at every suspend, reactivate and revoke');
    ctx.exposition = await service.metrics();
    ctx.runEnd = Date.now();
  }

  live.after(async (ctx) => {
    await ctx.prometheus?.stop();
    await ctx.service?.close();
    await ctx.nas?.close();
    await ctx.acs?.close();
  });

  live('every metric a panel reads has samples in the exposition after the lifecycle run', (ctx) => {
    const sampled = sampledNames(ctx.exposition);
    const dead = [...new Set(targets.flatMap((t) => metricNames(t.expr).map((n) => `${n} (${t.panel})`)))].filter((n) => !sampled.has(n.split(' ')[0]!));
    assert.equal(dead, [], `panels over metrics with no samples: ${dead.join(', ')}`);
  });

  live('Prometheus scraping the service answers every panel query with data', async (ctx) => {
    // A rate needs two scrapes in its window; at 1s intervals a few seconds are plenty.
    await scrapedAfter(ctx, ctx.runEnd, 2);
    // NaN is no data: a quantile over buckets that did not move, a ratio of zero rates.
    const empty: string[] = [];
    for (const t of targets) {
      const got = await query(ctx.prometheus.url, resolve(t.expr));
      if (!got.some((s) => s.value[1] !== 'NaN')) empty.push(`${t.panel} ${t.ref}: ${JSON.stringify(got)}`);
    }
    assert.equal(empty, [], `panel queries without data:\n${empty.join('\n')}`);
  });

  live.run();
}
