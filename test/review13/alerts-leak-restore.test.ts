// Review 13: Ipv6PrefixLeaked was `increase(ipv6_prefix_leak_total[30m]) > 0` over a counter of the
// stored leak total. A restore from an older backup lowers that total; increase() reads a fall as a
// counter reset and counted the whole lower total as new leaks: one spurious alert per restore. The
// rule now fires on a value above its lowest of the last 30 min.
// Shown over the real exposition: the scraped values, before and after the restore, fed to promtool.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createMetrics } from '../../runtime/metrics.ts';
import type { IpamPort } from '../../services/ipam/port.ts';
import { asyncOf } from '../../store/port.ts';
import { quietCounts } from '../support/metrics-rig.ts';
import { toolAvailable } from '../support/tools.ts';

const test = suite('review13: a restore lowering the stored leak total is no leak');
const NAME = 'ipv6_prefix_leak_total';

test('the stored total, as promtool check metrics accepts it: a fall fires nothing, a new leak after it fires once', async () => {
  let stored = 5;
  const metrics = createMetrics({
    store: asyncOf({ events: () => [] }) as never,
    counts: asyncOf(quietCounts({ leaksCounted: () => stored })),
    ipam: { utilization: async () => [] } as unknown as IpamPort,
    leaks: async () => 0,
  });
  const scrape = async () => {
    const text = await metrics.registry.metrics();
    assert.match(text, new RegExp(`^# TYPE ${NAME} counter$`, 'm'));
    return { text, value: Number(new RegExp(`^${NAME} (\\S+)$`, 'm').exec(text)?.[1]) };
  };
  // Before the restore, after it (the backup had 3), then one leak counted after it.
  const seen: { text: string; value: number }[] = [];
  for (const total of [5, 3, 4]) {
    stored = total;
    seen.push(await scrape());
  }
  assert.equal(
    seen.map((s) => s.value),
    [5, 3, 4],
  );
  if (!toolAvailable('promtool check metrics / test rules', 'promtool', 'apt-get install prometheus')) return;
  for (const { text } of seen) {
    const lint = spawnSync('promtool', ['check', 'metrics'], { input: text, encoding: 'utf8' });
    assert.is(lint.status, 0, `promtool check metrics:\n${lint.stdout}${lint.stderr}`);
  }
  const [before, after, leaked] = seen.map((s) => s.value);
  // Two instances stopped at minute 10 for the restore, started at 14 (`_x4` is four blanks); the new leak at minute 59.
  const values = `${before}x9 _x4 ${after}x44 ${leaked}x30`;
  const summary = '1 prefix(es) not returned to IPAM within runtime.leak_after_s of their termination; see the leak-check log lines';
  const dir = mkdtempSync(join(tmpdir(), 'review13-leak-restore-'));
  try {
    const cases = join(dir, 'restore.test.yml');
    writeFileSync(
      cases,
      JSON.stringify({
        rule_files: [resolve('alerts/ipv6-lifecycle.rules.yml')],
        evaluation_interval: '1m',
        tests: [
          {
            interval: '1m',
            input_series: ['a:8080', 'b:8080'].map((instance) => ({ series: `${NAME}{job="ipv6-lifecycle",instance="${instance}"}`, values })),
            alert_rule_test: [
              ...['15m', '30m', '43m', '57m'].map((eval_time) => ({ eval_time, alertname: 'Ipv6PrefixLeaked', exp_alerts: [] })),
              { eval_time: '65m', alertname: 'Ipv6PrefixLeaked', exp_alerts: [{ exp_labels: { severity: 'warning', job: 'ipv6-lifecycle' }, exp_annotations: { summary } }] },
              { eval_time: '91m', alertname: 'Ipv6PrefixLeaked', exp_alerts: [] },
            ],
          },
        ],
      }),
    );
    const run = spawnSync('promtool', ['test', 'rules', cases], { encoding: 'utf8' });
    assert.is(run.status, 0, `promtool test rules:\n${run.stdout}${run.stderr}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
