import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ConfigError, loadConfig, parseConfig } from '../config.ts';
import { DEFAULT_HOLD_DOWN_S, holdDownsOf } from '../services/ipam/embedded-quarantine.ts';

const test = suite('config');
const dir = mkdtempSync(join(tmpdir(), 'config-test-'));

const errorOf = (fn: () => unknown): string => {
  try {
    fn();
  } catch (err) {
    assert.instance(err, ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected a ConfigError');
};

test('loadConfig(undefined) → the embedded defaults: documentation pool, ./data file, loopback:8080', () => {
  const c = loadConfig(undefined);
  assert.equal(c.pools.map((p) => [p.name, p.prefix, p.prefix_length]), [['documentation', '2001:db8::/32', 56]]);
  assert.is(c.database, './data/ipv6-lifecycle.sqlite');
  assert.equal(c.listen, { host: '127.0.0.1', port: 8080 });
  assert.is(c.netbox, undefined);
  assert.is(c.radius, undefined);
});

test('a wrong value names its key; every wrong key is listed', () => {
  const message = errorOf(() => parseConfig({ retry: { attempts: 0 }, listen: { port: 'eighty' }, pools: [{ name: 'p', prefix: 'nope', prefix_length: 56 }] }));
  assert.match(message, 'retry.attempts:');
  assert.match(message, 'listen.port:');
  assert.match(message, 'pools.0.prefix: must be an IPv6 prefix');
  const cross = errorOf(() => parseConfig({ pools: [{ name: 'p', prefix: '2001:db8::/32', prefix_length: 20 }] }));
  assert.match(cross, "pools.0.prefix_length: must be longer than the pool's /32");
});

test('an unknown key is refused by name (a typo must not silently use a default)', () => {
  assert.match(errorOf(() => parseConfig({ retries: { attempts: 3 } })), 'retries');
  assert.match(errorOf(() => parseConfig({ api: { token: 'secret-in-file' } })), 'api');
});

test('default_pool must name a pool; a netbox pool needs the netbox section', () => {
  assert.match(errorOf(() => parseConfig({ default_pool: 'nope' })), 'default_pool: must name a pool (documentation)');
  const m = errorOf(() => parseConfig({ pools: [{ name: 'nb', prefix: '2001:db8::/40', prefix_length: 56, netbox: { parent_id: 1 } }] }));
  assert.match(m, 'pools.0.netbox: needs a top-level netbox section');
});

test('pool prefixes must be real prefixes and must not overlap', () => {
  assert.match(errorOf(() => parseConfig({ pools: [{ name: 'a', prefix: '2001:db8::1/32', prefix_length: 56 }] })), 'pools.0.prefix:');
  const m = errorOf(() =>
    parseConfig({
      pools: [
        { name: 'a', prefix: '2001:db8::/32', prefix_length: 56 },
        { name: 'b', prefix: '2001:db8:100::/40', prefix_length: 48 },
      ],
    }),
  );
  assert.match(m, 'pools.1.prefix: overlaps pool a (2001:db8::/32)');
  parseConfig({ pools: [{ name: 'a', prefix: '2001:db8::/33', prefix_length: 56 }, { name: 'b', prefix: '2001:db8:8000::/33', prefix_length: 56 }] });
});

test('YAML and JSON files load; a broken file names itself', () => {
  const yaml = join(dir, 'c.yaml');
  writeFileSync(yaml, 'listen: { port: 9000 }\npools:\n  - { name: res, prefix: "2001:db8:100::/40", prefix_length: 56 }\n');
  assert.is(loadConfig(yaml).listen.port, 9000);
  const json = join(dir, 'c.json');
  writeFileSync(json, JSON.stringify({ log: { level: 'debug' } }));
  assert.is(loadConfig(json).log.level, 'debug');
  writeFileSync(json, '{ nope');
  assert.match(errorOf(() => loadConfig(json)), `configuration file ${json} is not valid JSON`);
  assert.match(errorOf(() => loadConfig(join(dir, 'missing.yaml'))), 'cannot read configuration file');
});

test('schema and cross-field errors come in one round', () => {
  const m = errorOf(() =>
    parseConfig({ listen: { port: 'eighty' }, default_pool: 'nope', pools: [{ name: 'p', prefix: '2001:db8::/32', prefix_length: 20 }, { name: 'p', prefix: '2001:db9::/32', prefix_length: 56 }] }),
  );
  assert.match(m, 'listen.port:');
  assert.match(m, 'default_pool: must name a pool');
  assert.match(m, "pools.0.prefix_length: must be longer than the pool's /32");
  assert.match(m, 'pools: pool names must be unique');
});

test('api.default_wait_ms must not exceed api.max_wait_ms', () => {
  assert.match(errorOf(() => parseConfig({ api: { default_wait_ms: 10_000, max_wait_ms: 5000 } })), 'api.default_wait_ms: must not exceed api.max_wait_ms (5000)');
  parseConfig({ api: { default_wait_ms: 5000, max_wait_ms: 5000 } });
});

test('parseConfig(raw, env) → every secret it names must be set, all listed with the schema errors', () => {
  const raw = {
    retry: { attempts: 0 },
    api: { metrics_token_env: 'M_TOKEN' },
    netbox: { url: 'https://netbox.example.net', token_env: 'NB_TOKEN' },
    radius: { sql: { path: '/tmp/r.sqlite' }, dynamic_authorization: { default_secret_env: 'DA_SECRET', nas: [{ address: '192.0.2.1', secret_env: 'NAS1_SECRET' }] } },
    genieacs: { url: 'http://acs:7557', username_env: 'ACS_USER', password_env: 'ACS_PASS' },
  };
  const m = errorOf(() => parseConfig(raw, {}));
  assert.match(m, 'retry.attempts:');
  for (const name of ['M_TOKEN', 'NB_TOKEN', 'DA_SECRET', 'NAS1_SECRET', 'ACS_USER', 'ACS_PASS']) assert.match(m, `environment variable ${name} is not set`);
  assert.match(m, 'radius.dynamic_authorization.nas.0.secret_env');
  const env = { M_TOKEN: 'm'.repeat(16), NB_TOKEN: 'n', DA_SECRET: 'd', NAS1_SECRET: 's', ACS_USER: 'u', ACS_PASS: 'p' };
  parseConfig({ ...raw, retry: {} }, env);
  // Without env (tests, composing in code) nothing is read from the environment.
  parseConfig({ ...raw, retry: {} });
});

test('API and metrics tokens shorter than 16 characters are refused; an unset API token is generated', () => {
  const m = errorOf(() => parseConfig({ api: { metrics_token_env: 'M' } }, { IPV6_LIFECYCLE_API_TOKEN: 'short', M: '0123456789abcde' }));
  assert.match(m, 'api.token_env: the token in IPV6_LIFECYCLE_API_TOKEN is 5 characters; at least 16 are needed');
  assert.match(m, 'api.metrics_token_env: the token in M is 15 characters');
  assert.not.match(m, 'short');
  parseConfig({}, {});
  parseConfig({}, { IPV6_LIFECYCLE_API_TOKEN: '0123456789abcdef' });
});

test('loadConfig(file, env) checks the secrets too', () => {
  const yaml = join(dir, 'secrets.yaml');
  writeFileSync(yaml, 'api: { metrics_token_env: NOT_SET_ANYWHERE }\n');
  assert.match(errorOf(() => loadConfig(yaml, {})), 'api.metrics_token_env: environment variable NOT_SET_ANYWHERE is not set');
});

const onePool = (extra: Record<string, unknown>) => ({ pools: [{ name: 'p', prefix: '2001:db8::/32', prefix_length: 56, ...extra }] });

test('pools[].sticky: true unless set; false is kept; anything but a boolean is refused naming the field', () => {
  assert.is(parseConfig(onePool({})).pools[0]!.sticky, true);
  assert.is(parseConfig(onePool({ sticky: false })).pools[0]!.sticky, false);
  assert.is(loadConfig(undefined).pools[0]!.sticky, true, 'the built-in pool too');
  for (const bad of ['false', 0, 1, null, 'yes']) assert.match(errorOf(() => parseConfig(onePool({ sticky: bad }))), 'pools.0.sticky:');
  const yaml = join(dir, 'sticky.yaml');
  writeFileSync(yaml, 'pools:\n  - { name: p, prefix: "2001:db8::/32", prefix_length: 56, sticky: no }\n');
  // YAML 1.2 reads `no` as a string: refused, never taken for true.
  assert.match(errorOf(() => loadConfig(yaml)), 'pools.0.sticky: Invalid input: expected boolean, received string');
});

test('pools[].hold_down_s: unset stays unset (the IPAM decides: 600 s embedded); whole seconds 0..31536000 only', () => {
  const unset = parseConfig(onePool({})).pools[0]!;
  assert.is(unset.hold_down_s, undefined);
  assert.equal(holdDownsOf([{ name: 'p', holdDownS: unset.hold_down_s }]), new Map([['p', DEFAULT_HOLD_DOWN_S * 1000]]));
  assert.is(DEFAULT_HOLD_DOWN_S, 600);
  assert.is(loadConfig(undefined).pools[0]!.hold_down_s, 600);
  assert.is(parseConfig(onePool({ hold_down_s: 0 })).pools[0]!.hold_down_s, 0);
  assert.is(parseConfig(onePool({ hold_down_s: 31_536_000 })).pools[0]!.hold_down_s, 31_536_000);
  for (const bad of [-1, 1.5, '600', 31_536_001]) assert.match(errorOf(() => parseConfig(onePool({ hold_down_s: bad }))), 'pools.0.hold_down_s:');
});

test('jobs: cleanup daily at 02:00, leaks every 15 minutes, reconcile hourly, in UTC, revoked lifecycles kept 90 days', () => {
  assert.equal(parseConfig({}).jobs, {
    timezone: 'UTC',
    cleanup: { cron: '0 2 * * *', retention_days: 90, audit_retention_days: 0 },
    leaks: { cron: '*/15 * * * *' },
    reconcile: { cron: '17 * * * *' },
  });
  const c = parseConfig({ jobs: { timezone: 'Europe/Paris', cleanup: { cron: '30 3 * * 1-5', retention_days: 0 }, leaks: { cron: '0 */5 * * * *' } } });
  assert.equal(c.jobs.cleanup, { cron: '30 3 * * 1-5', retention_days: 0, audit_retention_days: 0 });
  assert.is(c.jobs.timezone, 'Europe/Paris');
});

test('reconcile: repairs only the unambiguous kinds by default; ipam_missing and session_foreign_prefix are report-only', () => {
  assert.equal(parseConfig({}).reconcile.repair, {
    ipam_orphan: 'report',
    ipam_missing: 'report',
    radreply_missing: 'repair',
    radreply_stale: 'repair',
    radreply_stale_unknown: 'report',
    session_foreign_prefix: 'report',
    cpe_still_delegating: 'repair',
    cpe_not_delegating: 'report',
  });
  assert.is(parseConfig({ reconcile: { repair: { radreply_stale: 'report' } } }).reconcile.repair.radreply_stale, 'report');
  assert.match(errorOf(() => parseConfig({ reconcile: { repair: { ipam_missing: 'repair' } } })), 'reconcile.repair.ipam_missing');
});

test('a bad cron expression or time zone is refused by its key', () => {
  const message = errorOf(() => parseConfig({ jobs: { timezone: 'Mars/Olympus', cleanup: { cron: '0 25 * * *' }, leaks: { cron: 'every 15 minutes' } } }));
  assert.match(message, 'jobs.timezone: must be an IANA time zone');
  assert.match(message, /jobs\.cleanup\.cron: not a cron expression \(.*hour/);
  assert.match(message, 'jobs.leaks.cron: not a cron expression');
  assert.match(errorOf(() => parseConfig({ jobs: { cleanup: { retention_days: -1 } } })), 'jobs.cleanup.retention_days:');
});

test('runtime.cleanup_interval_ms, replaced by the jobs, is refused with what replaces it', () => {
  assert.match(errorOf(() => parseConfig({ runtime: { cleanup_interval_ms: 300_000 } })), 'runtime.cleanup_interval_ms: replaced by jobs.leaks.cron');
});

test.run();
