// "Alerts fire when pools reach 80% utilization", shown with the real servers: Debian's Prometheus
// scrapes the running service and evaluates the project's rules (a copy whose `for:` is a second),
// Alertmanager routes to a webhook in this test. A pool of 8 prefixes is driven to 7 (87.5%)
// through the REST API, then revoked back to 4 (50%).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { alertChainAvailable, eventually, query, quickRules, startAlertmanager, startPrometheus, type Server } from './support/prometheus.ts';
import { startMonitoredService, type MonitoredService } from './support/monitored-service.ts';
import { startWebhookReceiver, type NotifiedAlert, type WebhookReceiver } from './support/webhook-receiver.ts';

interface Ctx {
  service: MonitoredService;
  receiver: WebhookReceiver;
  alertmanager: Server;
  prometheus: Server;
}



const available = () => alertChainAvailable('alerts end to end');

if (available()) {
  const test = suite<Ctx>('alerts end to end: Prometheus → Alertmanager → webhook', {} as Ctx);

  test.before(async (ctx) => {
    // uvu drops what a `before` hook throws without a word: say it here (the suite still fails).
    try {
      ctx.receiver = await startWebhookReceiver();
      // hold_down_s 0: a revoked prefix is free again once its revocation has finished.
      ctx.service = await startMonitoredService(() => ({ pools: [{ name: 'small', prefix: '2001:db8::/61', prefix_length: 64, hold_down_s: 0 }] }));
      ctx.alertmanager = await startAlertmanager(ctx.receiver.url);
      ctx.prometheus = await startPrometheus({ target: ctx.service.target, rules: { 'ipv6-lifecycle.rules.yml': quickRules() }, alertmanagerUrl: ctx.alertmanager.url });
    } catch (err) {
      console.error('alerts end to end: set-up failed:', err);
      throw err;
    }
  });

  test.after(async (ctx) => {
    await ctx.prometheus?.stop();
    await ctx.alertmanager?.stop();
    await ctx.service?.close();
    await ctx.receiver?.close();
  });

  const warning = (a: NotifiedAlert) => a.labels.alertname === 'Ipv6PoolUtilizationHigh' && a.labels.pool === 'small' && a.labels.severity === 'warning';

  test('a pool past 80% fires Ipv6PoolUtilizationHigh at the receiver; revoked back under, it resolves', async (ctx) => {
    const { service, receiver, prometheus } = ctx;
    for (let i = 0; i < 7; i++) {
      const r = await service.call('POST', 'allocate', { subscriber_id: `alert-${i}` });
      assert.is(r.status, 201, JSON.stringify(r.body));
    }
    // The figure the rule reads, as Prometheus scraped it.
    await eventually('Prometheus scraped ipv6_pool_utilization_percent{pool="small"} = 87.5', 15_000, async () =>
      (await query(prometheus.url, 'ipv6_pool_utilization_percent{pool="small"}')).some((s) => Number(s.value[1]) === 87.5),
    );
    const fired = await eventually('the warning reaches the webhook, firing', 20_000, async () => receiver.alerts().find((a) => warning(a) && a.status === 'firing'));
    assert.match(fired.annotations.summary ?? '', 'IPv6 pool small is 87.5% utilized');
    assert.not.ok(receiver.alerts().some((a) => a.labels.alertname === 'Ipv6PoolUtilizationCritical'), 'under 95%: no critical');

    for (let i = 0; i < 3; i++) {
      const r = await service.call('POST', 'revoke', { subscriber_id: `alert-${i}` });
      assert.equal([r.status, r.body.state], [200, 'revoked']);
    }
    await eventually('Prometheus scraped 50%', 15_000, async () =>
      (await query(prometheus.url, 'ipv6_pool_utilization_percent{pool="small"}')).some((s) => Number(s.value[1]) === 50),
    );
    const resolved = await eventually('the warning reaches the webhook, resolved', 20_000, async () => receiver.alerts().find((a) => warning(a) && a.status === 'resolved'));
    assert.ok(Date.parse(resolved.endsAt) >= Date.parse(fired.startsAt));
  });

  test.run();
}
