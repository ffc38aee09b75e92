// The process as a user starts it: `node --import tsx main.ts`, its --help, a bad configuration,
// a start on a free port, and a clean stop on SIGTERM. One process per database, failed starts and
// the graceful stop are in test/main.process.test.ts.
import { spawn, spawnSync } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';

const test = suite('main.ts');
const dir = mkdtempSync(join(tmpdir(), 'main-test-'));
const node = (args: string[], env: NodeJS.ProcessEnv = {}) =>
  spawnSync(process.execPath, ['--import', 'tsx', 'main.ts', ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 30_000 });

test('--help lists the options and the environment', () => {
  const r = node(['--help']);
  assert.is(r.status, 0);
  for (const word of ['--config', '--check-config', '--inspect', 'IPV6_LIFECYCLE_API_TOKEN', 'NETBOX_TOKEN']) assert.match(r.stdout, word);
  assert.match(r.stdout, /Exit status:[\s\S]*\n\s+2\s+did not start/, 'the exit code of a failed start is documented');
});

test('a bad configuration stops start-up with exit 2 and names the key', () => {
  const file = join(dir, 'bad.yaml');
  writeFileSync(file, 'retry: { attempts: 0 }\n');
  const r = node(['--config', file]);
  assert.is(r.status, 2);
  assert.match(r.stderr, 'retry.attempts');
});

test('--check-config prints the effective configuration without secrets', () => {
  const file = join(dir, 'radius.yaml');
  writeFileSync(file, 'radius:\n  sql: { path: /tmp/r.sqlite }\n  dynamic_authorization:\n    nas: [{ address: 192.0.2.1, secret: hunter2-inline }]\n');
  const r = node(['--check-config', '--config', file]);
  assert.is(r.status, 0, r.stderr);
  assert.not.match(r.stdout, 'hunter2');
  assert.is(JSON.parse(r.stdout).radius.dynamic_authorization.nas[0].secret, '***');
});

test('--check-config refuses a configuration whose secret is not set (exit 2, names the variable)', () => {
  const file = join(dir, 'metrics.yaml');
  writeFileSync(file, 'api: { metrics_token_env: MAIN_TEST_UNSET_TOKEN }\n');
  const r = node(['--check-config', '--config', file]);
  assert.is(r.status, 2);
  assert.match(r.stderr, 'api.metrics_token_env: environment variable MAIN_TEST_UNSET_TOKEN is not set');
});

test('--check-config refuses a bad cron expression (exit 2, names the key)', () => {
  const file = join(dir, 'cron.yaml');
  writeFileSync(file, 'jobs: { cleanup: { cron: "0 2 * *" } }\n');
  const r = node(['--check-config', '--config', file]);
  assert.is(r.status, 2);
  assert.match(r.stderr, 'jobs.cleanup.cron: not a cron expression');
});

test('without a configured token: stdout and stderr are JSON lines only (ISO time, level word); the generated token works', async () => {
  const file = join(dir, 'generated.yaml');
  writeFileSync(file, `listen: { port: 0 }\ndatabase: ${join(dir, 'generated.sqlite')}\n`);
  const env = { ...process.env };
  delete env.IPV6_LIFECYCLE_API_TOKEN;
  const child = spawn(process.execPath, ['--import', 'tsx', 'main.ts', '--config', file], { env });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  await new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`not listening: ${stdout} ${stderr}`)), 20_000);
    child.stdout.on('data', () => {
      if (stdout.includes('ipv6-lifecycle listening') && stderr.includes('api_token')) {
        clearTimeout(timer);
        resolve();
      }
    });
  });
  const code = new Promise<number | null>((resolve) => child.on('exit', (c) => resolve(c)));
  const lines = (text: string) => text.split('\n').filter((l) => l !== '').map((l) => JSON.parse(l) as Record<string, unknown>);
  const out = lines(stdout);
  const err = lines(stderr);
  for (const l of [...out, ...err]) {
    assert.type(l.level, 'string');
    assert.match(String(l.time), /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
  }
  try {
    const token = String(err.find((l) => l.api_token)?.api_token);
    assert.not.match(stdout, token);
    const url = String(out.find((l) => l.msg === 'ipv6-lifecycle listening')?.url);
    const api = await fetch(`${url}/api/v1/network/ipv6/allocate`, {
      method: 'POST',
      headers: { authorization: `Bearer ${token}`, 'content-type': 'application/json' },
      body: JSON.stringify({ subscriber_id: 'g1' }),
    });
    assert.is(api.status, 201);
  } finally {
    child.kill('SIGTERM');
  }
  assert.is(await code, 0);
});

test('starts on a free port, answers /readyz, stops cleanly on SIGTERM; the token never reaches the log', async () => {
  const file = join(dir, 'run.yaml');
  writeFileSync(file, `listen: { port: 0 }\ndatabase: ${join(dir, 'run.sqlite')}\n`);
  const child = spawn(process.execPath, ['--import', 'tsx', 'main.ts', '--config', file], {
    env: { ...process.env, IPV6_LIFECYCLE_API_TOKEN: 'main-test-secret-token' },
  });
  let stdout = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`no listening line: ${stdout} ${stderr}`)), 20_000);
    child.stdout.on('data', () => {
      const m = /"url":"(http:\/\/[^"]+)"/.exec(stdout);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
  });
  const ready = await fetch(`${url}/readyz`);
  assert.is(ready.status, 200);
  const api = await fetch(`${url}/api/v1/network/ipv6/allocate`, {
    method: 'POST',
    headers: { authorization: 'Bearer main-test-secret-token', 'content-type': 'application/json' },
    body: JSON.stringify({ subscriber_id: 'm1' }),
  });
  assert.is(api.status, 201);
  // Node's own answer to headers over its limit gets the service's error shape (http/server.ts).
  const big = await fetch(`${url}/readyz`, { headers: { 'x-big': 'a'.repeat(20_000) } });
  assert.is(big.status, 431);
  assert.is(((await big.json()) as { error: { code: string } }).error.code, 'headers_too_large');
  const code = await new Promise<number | null>((resolve) => {
    child.on('exit', (c) => resolve(c));
    child.kill('SIGTERM');
  });
  assert.is(code, 0);
  assert.not.match(stdout + stderr, 'main-test-secret-token');
});

test.run();
