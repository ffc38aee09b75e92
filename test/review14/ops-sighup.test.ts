// SIGHUP is what `kill -HUP`, a closed terminal and many logrotate postrotate scripts send; Node's
// default for it is to die at once (exit 129), dropping the requests in flight without the drain
// SIGTERM gets. The service reads its configuration at start only, so a hang-up is logged and
// ignored: it keeps serving, and SIGTERM still stops it with 0 (README "Stopping", --help).
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { test } from 'uvu';
import * as assert from 'uvu/assert';
import { freePort, soakService } from '../support/soak-service.ts';

test('SIGHUP is logged and ignored: the service keeps serving, SIGTERM then exits 0', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'ops-sighup-'));
  const port = await freePort();
  const config = join(dir, 'config.yaml');
  writeFileSync(config, `listen: { host: 127.0.0.1, port: ${port} }\ndatabase: ${join(dir, 'svc.sqlite')}\n`);
  const svc = soakService({ config, port, env: { IPV6_LIFECYCLE_API_TOKEN: 'ops-sighup-token-0123456789' } });
  try {
    await svc.start();
    assert.is(await svc.signal('SIGHUP', 1500), null, 'the process is still running after SIGHUP');
    const health = await fetch(`${svc.origin}/healthz`);
    assert.is(health.status, 200);
    const line = svc.warnings().find((l) => /"signal":"SIGHUP"/.test(l));
    assert.ok(line, `a warning names the signal: ${svc.warnings().join('\n')}`);
    assert.match(line!, /"msg":"SIGHUP ignored[^"]*restart/);
    assert.is(await svc.stop(), 0);
  } finally {
    await svc.kill();
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
