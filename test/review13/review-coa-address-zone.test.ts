// Review 13 (19bee2b): coa_address is "refused by key in the config and --check-config" when it is
// not an IP address. An IPv6 address with a zone index (fe80::1%eth0, how a link-local management
// address is written) passes node's isIP, and the canonical form then throws a RangeError out of
// the schema: no ConfigError naming the key, and --check-config ends "failed to start" (exit 1, not 2).
// `address` shares the check, so it is asserted too.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ConfigError, parseConfig } from '../../config.ts';

const test = suite('review13: a NAS address with a zone index is refused by key');
const ZONED = 'fe80::1%eth0';
const withNas = (nas: Record<string, unknown>) => ({ radius: { sql: { path: '/tmp/r.sqlite' }, dynamic_authorization: { nas: [{ address: '192.0.2.10', secret: 's', ...nas }] } } });

const refusal = (nas: Record<string, unknown>): unknown => {
  try {
    parseConfig(withNas(nas));
  } catch (err) {
    return err;
  }
  throw new Error('expected the configuration to be refused');
};

test('parseConfig: coa_address and address with a zone index are a ConfigError naming the key', () => {
  for (const [key, nas] of [['coa_address', { coa_address: ZONED }], ['address', { address: ZONED }]] as const) {
    const err = refusal(nas);
    assert.ok(err instanceof ConfigError, `${key}: ${String(err)}`);
    assert.match((err as Error).message, `radius.dynamic_authorization.nas.0.${key}: an IPv4 or IPv6 address`);
  }
});

test('--check-config: a zoned coa_address exits 2 and names the key', () => {
  const dir = mkdtempSync(join(tmpdir(), 'r13-coa-zone-'));
  try {
    const file = join(dir, 'radius.yaml');
    writeFileSync(file, `radius:\n  sql: { path: /tmp/r.sqlite }\n  dynamic_authorization:\n    nas: [{ address: 192.0.2.10, coa_address: "${ZONED}", secret: x }]\n`);
    const run = spawnSync(process.execPath, ['--import', 'tsx', 'main.ts', '--check-config', '--config', file], { encoding: 'utf8' });
    assert.is(run.status, 2, run.stderr);
    assert.match(run.stderr, 'radius.dynamic_authorization.nas.0.coa_address');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
