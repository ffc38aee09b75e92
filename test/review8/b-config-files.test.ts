// Review 8b: the configuration as an operator writes it, run through `main.ts` the way README says
// (`npm start -- --config <file>`, `--check-config`). README, "Configuration reference": "A wrong value
// stops the start with a message that names the key"; "Secrets never go in the file";
// "Failed starts ... leave no file behind". genieacs.url refuses credentials, a query or a fragment;
// docs/netbox.md writes netbox.url "without /api".
import { spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';

const test = suite('review8b: configuration files');
const dir = mkdtempSync(join(tmpdir(), 'review8b-config-'));
const node = (args: string[], env: NodeJS.ProcessEnv = {}) =>
  spawnSync(process.execPath, ['--import', 'tsx', 'main.ts', ...args], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 30_000 });
const file = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, `listen: { port: 0 }\ndatabase: ${join(dir, `${name}.sqlite`)}\n${text}\n`);
  return path;
};

test.after(() => rmSync(dir, { recursive: true, force: true }));

test('REVIEW8 netbox.url with a user and password is refused naming netbox.url, and --check-config never prints the password', () => {
  const r = node(['--check-config', '--config', file('nb-cred.yaml', 'netbox: { url: "https://admin:S3cretPass@netbox.example" }')], { NETBOX_TOKEN: 'x' });
  assert.not.match(r.stdout + r.stderr, 'S3cretPass', 'the password in the URL is shown');
  assert.is(r.status, 2, 'a URL carrying credentials is accepted (genieacs.url refuses one)');
  assert.match(r.stderr, 'netbox.url');
});

test('REVIEW8 netbox.url with a query, a fragment, or ending in /api is refused naming netbox.url', () => {
  for (const url of ['https://netbox.example/?tenant=1', 'https://netbox.example/#x', 'https://netbox.example/api', 'https://netbox.example/api/']) {
    const r = node(['--check-config', '--config', file('nb-url.yaml', `netbox: { url: "${url}" }`)], { NETBOX_TOKEN: 'x' });
    assert.is(r.status, 2, `${url} accepted`);
    assert.match(r.stderr, 'netbox.url', url);
  }
});

test('REVIEW8 a radius.sql.schema_file that cannot be read stops start-up naming the key, and leaves no radius.sql.path behind', () => {
  const radius = join(dir, 'radius.sqlite');
  const r = node(['--config', file('schema.yaml', `radius: { sql: { path: ${radius}, create_schema: true, schema_file: ${join(dir, 'missing.sql')} } }`)]);
  assert.is(r.status, 2);
  assert.match(r.stderr, 'radius.sql.schema_file', `the message does not name the key: ${r.stderr.trim()}`);
  assert.ok(!existsSync(radius), 'an empty radius.sql.path is left behind by the failed start');
});

test('REVIEW8 a radius.sql.tls.ca_file that cannot be read stops start-up naming the key', () => {
  const cfg = `radius: { sql: { backend: postgresql, host: 127.0.0.1, port: 1, password_env: R8_PW, tls: { mode: verify, ca_file: ${join(dir, 'missing-ca.pem')} } } }`;
  const r = node(['--config', file('ca.yaml', cfg)], { R8_PW: 'pw' });
  assert.is(r.status, 2);
  assert.match(r.stderr, 'radius.sql.tls.ca_file', `the message does not name the key: ${r.stderr.trim()}`);
});

test.run();
