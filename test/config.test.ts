import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ConfigError, loadConfig, parseConfig } from '../config.ts';

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

test.run();
