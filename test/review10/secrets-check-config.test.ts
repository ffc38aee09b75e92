// Review 10: --check-config and --help with every secret the service knows set: the API and
// metrics tokens, NETBOX_TOKEN, the NBI's basic auth, NAS secrets inline and from the environment,
// the PostgreSQL store URL's password, FreeRADIUS's SQL URL. The peers are not asked (only a
// PostgreSQL/MariaDB radius.sql is logged into): what is printed must name variables, never values,
// whether the configuration is accepted or refused (a token too short, a URL not postgres://).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';

const SECRETS = {
  IPV6_LIFECYCLE_API_TOKEN: 'r10-api-token-5d1e0c9b8a7f',
  R10_METRICS: 'r10-metrics-token-44f0a9c1',
  NETBOX_TOKEN: 'nbt_R10cc01.Yy8Xv7Cb6Nm5Lk4Jh3Gf2Ds1Aq0Wp9',
  R10_ACS_USER: 'acs-operator',
  R10_ACS_PASSWORD: 'r10-acs:Pa55/w@rd',
  R10_NAS: 'r10-nas-secret-3e7f',
  R10_DEFAULT_NAS: 'r10-default-nas-9a1b',
  R10_STORE_URL: `postgres://lifecycle:${encodeURIComponent('r10-store:pw/@%')}@127.0.0.1:1/lifecycle`,
};
const INLINE_NAS = 'r10-inline-nas-secret-77';
const values = [...Object.entries(SECRETS).filter(([k]) => k !== 'R10_ACS_USER').map(([, v]) => v), 'r10-store:pw/@%', INLINE_NAS];
const forms = values.flatMap((s) => [s, encodeURIComponent(s), Buffer.from(s).toString('base64')]);
const leaks = (text: string) => forms.filter((s) => text.includes(s));

const dir = mkdtempSync(join(tmpdir(), 'review10-check-config-'));
const CONFIG = {
  listen: { port: 0 },
  database: join(dir, 'l.sqlite'),
  api: { metrics_token_env: 'R10_METRICS' },
  store: { backend: 'postgresql', url_env: 'R10_STORE_URL' },
  pools: [{ name: 'residential', prefix: '2001:db8::/40', prefix_length: 56, netbox: { parent_id: 1 } }],
  netbox: { url: 'http://127.0.0.1:1' },
  genieacs: { url: 'http://127.0.0.1:1', username_env: 'R10_ACS_USER', password_env: 'R10_ACS_PASSWORD' },
  radius: {
    sql: { path: join(dir, 'radius.sqlite') },
    dynamic_authorization: {
      default_secret_env: 'R10_DEFAULT_NAS',
      nas: [
        { address: '192.0.2.1', secret_env: 'R10_NAS' },
        { address: '192.0.2.2', secret: INLINE_NAS },
      ],
    },
  },
};

let n = 0;
function run(args: string[], config: unknown, env: Record<string, string>) {
  const file = join(dir, `c${++n}.json`);
  writeFileSync(file, JSON.stringify(config));
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'main.ts', ...args, '--config', file], { encoding: 'utf8', env: { ...process.env, ...env }, timeout: 60_000 });
  return { status: r.status, out: `${r.stdout}\n${r.stderr}` };
}

const test = suite('review10: --check-config and --help print no secret');
test.after(() => rmSync(dir, { recursive: true, force: true }));

test('--check-config with every secret set: accepted, printed with names only', () => {
  const r = run(['--check-config'], CONFIG, SECRETS);
  assert.is(r.status, 0, r.out);
  assert.match(r.out, /R10_STORE_URL/);
  assert.equal(leaks(r.out), []);
});

test('--check-config refusing a short metrics token and a store URL that is not postgres://: no value quoted', () => {
  const store = SECRETS.R10_STORE_URL.replace('postgres:', 'mysql:');
  const r = run(['--check-config'], CONFIG, { ...SECRETS, R10_METRICS: 'r10-short', R10_STORE_URL: store });
  assert.is(r.status, 2, r.out);
  assert.match(r.out, /metrics_token_env/);
  assert.match(r.out, /store\.url_env/);
  assert.equal(leaks(`${r.out}`), []);
  assert.not.ok(r.out.includes('r10-short'), 'the short token is not quoted');
});

test('--check-config refusing the configuration (two secrets for one NAS): no value quoted', () => {
  const bad = structuredClone(CONFIG);
  Object.assign(bad.radius.dynamic_authorization.nas[1]!, { secret_env: 'R10_NAS' });
  const r = run(['--check-config'], bad, SECRETS);
  assert.is(r.status, 2, r.out);
  assert.match(r.out, /secret_env or secret/);
  assert.equal(leaks(r.out), []);
});

test('--help with every secret set prints none', () => {
  const r = run(['--help'], CONFIG, SECRETS);
  assert.is(r.status, 0, r.out);
  assert.equal(leaks(r.out), []);
});

test.run();
