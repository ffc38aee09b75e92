// Review 8b: README, "Configuration reference": "a key ending in `_env` names the environment
// variable that holds the secret, and start-up and `--check-config` refuse a configuration whose
// variable is unset". store.url_env holds the PostgreSQL URL (its password): the start refuses it
// unset, so --check-config, the dry run operators put before a deploy, must as well.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';

const test = suite('review8b: --check-config and store.url_env');
const dir = mkdtempSync(join(tmpdir(), 'review8b-store-url-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));

test('REVIEW8 --check-config refuses store.backend postgresql whose store.url_env variable is unset (exit 2, naming the key and the variable)', () => {
  const env = { ...process.env };
  delete env.IPV6_LIFECYCLE_DATABASE_URL;
  delete env.R8_DB_URL;
  for (const [name, store] of [['default', '{ backend: postgresql }'], ['named', '{ backend: postgresql, url_env: R8_DB_URL }']] as const) {
    const file = join(dir, `${name}.yaml`);
    writeFileSync(file, `store: ${store}\n`);
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'main.ts', '--check-config', '--config', file], { encoding: 'utf8', env, timeout: 30_000 });
    assert.is(r.status, 2, `${name}: --check-config passed`);
    assert.match(r.stderr, 'store.url_env', name);
    assert.match(r.stderr, name === 'default' ? 'IPV6_LIFECYCLE_DATABASE_URL' : 'R8_DB_URL', name);
  }
});

test('--check-config refuses a store.url_env variable that holds no postgres:// URL, naming the key and never the value', () => {
  for (const url of ['mysql://u:hunter2secret@db/x', 'hunter2secret']) {
    const file = join(dir, 'bad-url.yaml');
    writeFileSync(file, 'store: { backend: postgresql }\n');
    const env = { ...process.env, IPV6_LIFECYCLE_DATABASE_URL: url };
    const r = spawnSync(process.execPath, ['--import', 'tsx', 'main.ts', '--check-config', '--config', file], { encoding: 'utf8', env, timeout: 30_000 });
    assert.is(r.status, 2, `${url}: --check-config passed`);
    assert.match(r.stderr, /store\.url_env: environment variable IPV6_LIFECYCLE_DATABASE_URL holds (a mysql:\/\/ URL|no URL); want postgres:\/\//);
    assert.not.match(r.stdout + r.stderr, 'hunter2secret');
  }
  const file = join(dir, 'good-url.yaml');
  writeFileSync(file, 'store: { backend: postgresql }\n');
  const ok = spawnSync(process.execPath, ['--import', 'tsx', 'main.ts', '--check-config', '--config', file], { encoding: 'utf8', env: { ...process.env, IPV6_LIFECYCLE_DATABASE_URL: 'postgresql://u@127.0.0.1:1/x' }, timeout: 30_000 });
  assert.is(ok.status, 0, ok.stderr);
});

test.run();
