// Review 12: RadiusNasNotAnswering is `increase(ipv6_lifecycle_radius_requests_total{result="no_answer"}[15m]) > 0`.
// The counter had no series until its first request: the first NAS that stayed silent since the
// service started made the series appear at 1, and increase() over a series born at 1 is 0, so a
// single unanswered Disconnect (the usual case: one BNG down) never fired, after every restart.
// Shown with Debian's Prometheus and Alertmanager scraping the service; the NAS is a UDP socket
// that reads and never answers.
import Database from 'better-sqlite3';
import { createSocket, type Socket } from 'node:dgram';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startMonitoredService, type MonitoredService } from '../support/monitored-service.ts';
import { alertChainAvailable, eventually, query, quickRules, startAlertmanager, startPrometheus, type Server } from '../support/prometheus.ts';
import { startWebhookReceiver, type WebhookReceiver } from '../support/webhook-receiver.ts';

const SCHEMA = '/etc/freeradius/3.0/mods-config/sql/main/sqlite/schema.sql';

interface Ctx {
  nas: Socket;
  service: MonitoredService;
  receiver: WebhookReceiver;
  alertmanager: Server;
  prometheus: Server;
}


const available = () => alertChainAvailable('review12 alerts nas first');

if (available()) {
  const test = suite<Ctx>('review12: the first unanswered Disconnect since start fires RadiusNasNotAnswering', {} as Ctx);

  test.before(async (ctx) => {
    try {
      ctx.receiver = await startWebhookReceiver();
      ctx.nas = createSocket('udp4');
      await new Promise<void>((resolve) => ctx.nas.bind(0, '127.0.0.1', resolve));
      const port = ctx.nas.address().port;
      ctx.service = await startMonitoredService(
        (dir) => ({
          radius: {
            sql: { path: join(dir, 'radius.sqlite'), create_schema: true, schema_file: SCHEMA },
            dynamic_authorization: { default_secret_env: 'COA_SECRET', timeout_ms: 100, retries: 0, nas: [{ address: '127.0.0.1', port, action: 'disconnect' }] },
          },
        }),
        { COA_SECRET: 'review12-coa-secret' },
      );
      ctx.alertmanager = await startAlertmanager(ctx.receiver.url);
      ctx.prometheus = await startPrometheus({ target: ctx.service.target, rules: { 'r.yml': quickRules() }, alertmanagerUrl: ctx.alertmanager.url });
    } catch (err) {
      console.error('review12 alerts nas first: set-up failed:', err);
      throw err;
    }
  });

  test.after(async (ctx) => {
    await ctx.prometheus?.stop();
    await ctx.alertmanager?.stop();
    await ctx.service?.close();
    ctx.nas?.close();
    await ctx.receiver?.close();
  });

  test('one silent NAS on a revocation: the alert fires, naming the action', async (ctx) => {
    const { service, receiver, prometheus } = ctx;
    assert.is((await service.call('POST', 'allocate', { subscriber_id: 'nas-1' })).status, 201);
    assert.is((await service.call('POST', 'activate', { subscriber_id: 'nas-1', username: 'nas-1@isp.example' })).status, 200);
    const radius = new Database(join(service.dir, 'radius.sqlite'));
    radius
      .prepare("INSERT INTO radacct (acctsessionid, acctuniqueid, username, nasipaddress, acctstarttime) VALUES ('S1', 'u-s1', 'nas-1@isp.example', '127.0.0.1', datetime('now'))")
      .run();
    radius.close();
    // Prometheus has scraped the service before the NAS is asked: the series' history starts now.
    await eventually('Prometheus scraped the service', 15_000, async () => (await query(prometheus.url, 'up == 1')).length > 0);
    await new Promise((r) => setTimeout(r, 2000));
    // A brand-new, healthy service (every `for:` a second): nothing pending or firing.
    assert.equal((await query(prometheus.url, 'ALERTS')).map((s) => s.metric.alertname), [], 'a healthy service alerts nothing');
    const revoked = await service.call('POST', 'revoke', { subscriber_id: 'nas-1' });
    assert.is(revoked.body.state, 'revoked', JSON.stringify(revoked));
    assert.match(await service.metrics(), 'ipv6_lifecycle_radius_requests_total{purpose="revoke",action="disconnect",result="no_answer"} 1');
    const fired = await eventually('RadiusNasNotAnswering reaches the webhook, firing', 20_000, async () =>
      receiver.alerts().find((a) => a.labels.alertname === 'RadiusNasNotAnswering' && a.status === 'firing'),
    );
    assert.is(fired.labels.action, 'disconnect');
    assert.match(fired.annotations.summary ?? '', 'disconnect request(s) in 15m');
    assert.not.ok(receiver.alerts().some((a) => a.labels.alertname === 'RadiusNasRefusing'), 'silent, not refusing');
  });

  test.run();
}
