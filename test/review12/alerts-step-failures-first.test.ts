// Review 12: Ipv6StepFailureRatioHigh is `sum by (step) (rate(ipv6_lifecycle_step_failures_total[15m])) / …`.
// The counter had no series until a step first exhausted its retries: the first failure of a step
// and code since a start made its series appear at 1, and rate()/increase() over a series born at 1
// see nothing, so a step that failed on its first run after a restart never counted (the same
// defect as the RADIUS counter's, review12/alerts-nas-first). The series the rule sums are now
// there at 0 from the start, for every step name of the IPAMs configured and the codes a peer's
// failure carries; the first failure then moves one of them from 0 to 1.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startMonitoredService } from '../support/monitored-service.ts';

const test = suite('review12: the step failure series the alert reads are there at 0 before the first failure');

const samples = (text: string, name: string) => text.split('\n').filter((l) => l.startsWith(`${name}{`));

test('a fresh embedded-IPAM service shows every step × peer-failure code at 0, and no other IPAM’s names', async () => {
  const service = await startMonitoredService(() => ({}));
  let text: string;
  try {
    text = await service.metrics();
  } finally {
    await service.close();
  }
  const failures = samples(text, 'ipv6_lifecycle_step_failures_total');
  const steps = [
    'embedded_allocate',
    'embedded_release',
    'embedded_free',
    'radius_write_reply',
    'radius_remove_reply',
    'radius_sessions',
    'cpe_configure_pd',
    'cpe_remove_ipv6',
  ];
  for (const step of steps)
    for (const code of ['upstream_unavailable', 'upstream_rejected', 'timeout', 'internal'])
      assert.ok(failures.includes(`ipv6_lifecycle_step_failures_total{step="${step}",code="${code}"} 0`), `${step} ${code}`);
  assert.is(failures.length, steps.length * 4, failures.join('\n'));
  assert.not.ok(failures.some((l) => l.includes('netbox_') || l.includes('fake_')), 'only the configured IPAM');
});

test.run();
