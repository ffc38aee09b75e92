// Review 12: the job alerts read a label `job` on ipv6_job_runs_total and
// ipv6_job_last_success_timestamp_seconds. `job` is also the target label Prometheus sets on every
// scraped series, so with the README's scrape config (honor_labels off) the service's `job` comes
// in as `exported_job` and `job` is the scrape job's name: Ipv6JobOverdue's {job="leaks"} matches
// nothing, and Ipv6JobFailing's `sum by (job, instance)` lumps every scheduled job together, so
// another job's success (`pending` runs every 30 s) hides a leak check that fails every time.
// Shown with Debian's Prometheus and Alertmanager scraping the service, NetBox down as the cause.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startMonitoredService, type MonitoredService } from '../support/monitored-service.ts';
import { startNetboxServer, V1_TOKEN, type NetboxServer } from '../support/netbox-server.ts';
import { alertChainAvailable, eventually, query, quickRules, startAlertmanager, startPrometheus, type Server } from '../support/prometheus.ts';
import { startWebhookReceiver, type NotifiedAlert, type WebhookReceiver } from '../support/webhook-receiver.ts';

interface Ctx {
  netbox: NetboxServer;
  service: MonitoredService;
  receiver: WebhookReceiver;
  alertmanager: Server;
  prometheus: Server;
}



const available = () => alertChainAvailable('review12 alerts job label');

if (available()) {
  const test = suite<Ctx>('review12: the job alerts see which scheduled job, through a real scrape', {} as Ctx);

  test.before(async (ctx) => {
    try {
      ctx.receiver = await startWebhookReceiver();
      ctx.netbox = await startNetboxServer();
      const parent = ctx.netbox.addPrefix({ prefix: '2001:db8:a::/48', status: 'container' });
      ctx.service = await startMonitoredService(
        () => ({
          netbox: { url: ctx.netbox.url, timeout_ms: 500 },
          pools: [{ name: 'nb', prefix: '2001:db8:a::/48', prefix_length: 56, netbox: { parent_id: parent.id } }],
          runtime: { pending_interval_ms: 500 },
        }),
        { NETBOX_TOKEN: V1_TOKEN },
      );
      ctx.alertmanager = await startAlertmanager(ctx.receiver.url);
      ctx.prometheus = await startPrometheus({ target: ctx.service.target, rules: { 'r.yml': quickRules() }, alertmanagerUrl: ctx.alertmanager.url });
    } catch (err) {
      console.error('review12 alerts job label: set-up failed:', err);
      throw err;
    }
  });

  test.after(async (ctx) => {
    await ctx.prometheus?.stop();
    await ctx.alertmanager?.stop();
    await ctx.service?.close();
    await ctx.netbox?.close();
    await ctx.receiver?.close();
  });

  const jobFailing = (a: NotifiedAlert) => a.labels.alertname === 'Ipv6JobFailing';

  test('a down NetBox: the failing leak check fires Ipv6JobFailing naming the job, and Ipv6IpamUnreachable; NetBox back, both resolve', async (ctx) => {
    const { service, netbox, receiver, prometheus } = ctx;
    // Another job succeeding meanwhile must not hide it.
    await eventually('the pending job has run ok, as Prometheus scraped it', 20_000, async () =>
      (await query(prometheus.url, 'ipv6_job_runs_total{outcome="ok"} > 0')).length > 0,
    );
    netbox.setDown(true);
    const r = await service.call('POST', 'jobs/leaks');
    assert.ok(r.status >= 500, JSON.stringify(r));
    const fired = await eventually('Ipv6JobFailing reaches the webhook, firing', 20_000, async () =>
      receiver.alerts().find((a) => jobFailing(a) && a.status === 'firing'),
    );
    assert.is(fired.labels.scheduled_job, 'leaks', JSON.stringify(fired.labels));
    assert.match(fired.annotations.summary ?? '', 'Job leaks failed');
    assert.match(fired.annotations.summary ?? '', 'POST /api/v1/network/ipv6/jobs/leaks');
    assert.not.ok(receiver.alerts().some((a) => jobFailing(a) && a.labels.scheduled_job !== 'leaks'), 'only the failing job');
    // The same cause, seen by the scrape: the pools cannot be read.
    const unreachable = (status: string) => receiver.alerts().find((a) => a.labels.alertname === 'Ipv6IpamUnreachable' && a.status === status);
    const down = await eventually('Ipv6IpamUnreachable reaches the webhook, firing', 30_000, async () => unreachable('firing'));
    assert.is(down.labels.severity, 'critical');
    assert.match(down.annotations.summary ?? '', `${service.target} has not read the pools from IPAM`);

    netbox.setDown(false);
    const ok = await service.call('POST', 'jobs/leaks');
    assert.is(ok.status, 200, JSON.stringify(ok));
    await eventually('Ipv6JobFailing resolves at the webhook', 20_000, async () => receiver.alerts().find((a) => jobFailing(a) && a.status === 'resolved'));
    await eventually('Ipv6IpamUnreachable resolves at the webhook', 30_000, async () => unreachable('resolved'));
  });

  test('Ipv6JobOverdue reads the last success of each job by name, as Prometheus scraped it', async (ctx) => {
    const got = await eventually('ipv6_job_last_success_timestamp_seconds{scheduled_job="leaks"} in Prometheus', 15_000, async () => {
      const s = await query(ctx.prometheus.url, 'ipv6_job_last_success_timestamp_seconds{scheduled_job="leaks"}');
      return s.length > 0 && s;
    });
    const age = Date.now() / 1000 - Number(got[0]!.value[1]);
    assert.ok(age >= 0 && age < 60, `age ${age}`);
  });

  test.run();
}
