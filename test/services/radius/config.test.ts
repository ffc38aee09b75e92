import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { radiusConfigSchema } from '../../../services/radius/config.ts';
import { resolveNasTable } from '../../../services/radius/nas-table.ts';

const test = suite('radius configuration');

test('radiusConfigSchema fills the defaults from only sql.path', () => {
  const cfg = radiusConfigSchema.parse({ sql: { path: '/var/lib/radius.sqlite' } });
  assert.equal(cfg.sql, {
    backend: 'sqlite',
    path: '/var/lib/radius.sqlite',
    busy_timeout_ms: 2000,
    create_schema: false,
    schema_file: '/etc/freeradius/3.0/mods-config/sql/main/sqlite/schema.sql',
  });
  assert.equal(cfg.reply, { framed_prefix: 'none' });
  assert.equal(cfg.dynamic_authorization, {
    action: 'coa',
    default_port: 3799,
    timeout_ms: 1000,
    retries: 2,
    message_authenticator: true,
    prefix_encoding: 'full',
    nas: [],
    confirm_window_ms: 0,
    confirm_poll_ms: 250,
  });
});

test('radiusConfigSchema canonicalises NAS addresses and rejects duplicates', () => {
  const cfg = radiusConfigSchema.parse({ sql: { path: 'x' }, dynamic_authorization: { nas: [{ address: '2001:DB8::0:1', secret_env: 'NAS1' }] } });
  assert.is(cfg.dynamic_authorization.nas[0]!.address, '2001:db8::1');
  const dup = radiusConfigSchema.safeParse({
    sql: { path: 'x' },
    dynamic_authorization: { nas: [{ address: '2001:db8::1' }, { address: '2001:DB8::1' }] },
  });
  assert.is(dup.success, false);
});

test('radiusConfigSchema rejects typos, bad addresses, and secret_env together with secret', () => {
  for (const bad of [
    { sql: { path: 'x', pth: 'y' } },
    { sql: { path: 'x', backend: 'postgresql' } },
    { sql: { path: 'x' }, dynamic_authorization: { nas: [{ address: 'nas-1.example' }] } },
    { sql: { path: 'x' }, dynamic_authorization: { nas: [{ address: '10.0.0.1', secret_env: 'A', secret: 'b' }] } },
    { sql: { path: 'x' }, dynamic_authorization: { nas: [{ address: '10.0.0.1', secret_env: 'not a name' }] } },
    { sql: { path: 'x' }, dynamic_authorization: { action: 'reauth' } },
    { sql: { path: 'x' }, reply: { framed_prefix: 'first48' } },
  ]) {
    assert.is(radiusConfigSchema.safeParse(bad).success, false, JSON.stringify(bad));
  }
});

test('resolveNasTable reads secrets from the environment and falls back to the defaults', () => {
  const cfg = radiusConfigSchema.parse({
    sql: { path: 'x' },
    dynamic_authorization: {
      action: 'coa',
      default_secret_env: 'COA_DEFAULT',
      nas: [
        { address: '10.0.0.1', secret_env: 'COA_BNG1', port: 1700, action: 'disconnect' },
        { address: '10.0.0.2' },
      ],
    },
  }).dynamic_authorization;
  const table = resolveNasTable(cfg, { COA_DEFAULT: 'dflt', COA_BNG1: 's1' });
  const where = ({ port, action, secret }: { port: number; action: string; secret: string | null }) => ({ port, action, secret });
  assert.equal(where(table.lookup('10.0.0.1')), { port: 1700, action: 'disconnect', secret: 's1' });
  assert.equal(where(table.lookup('10.0.0.2')), { port: 3799, action: 'coa', secret: 'dflt' });
  assert.equal(where(table.lookup('10.9.9.9')), { port: 3799, action: 'coa', secret: 'dflt' });
  // Without a profile: the RFC 5176 attributes, as before.
  const { attributes, reportsPd, unconfirmedCoa } = table.lookup('10.9.9.9');
  assert.equal([attributes, reportsPd, unconfirmedCoa], [['User-Name', 'Acct-Session-Id', 'NAS-IP-Address'], true, 'keep']);
});

test('resolveNasTable names a missing variable and never echoes any secret', () => {
  const cfg = radiusConfigSchema.parse({
    sql: { path: 'x' },
    dynamic_authorization: { default_secret_env: 'COA_DEFAULT', nas: [{ address: '10.0.0.1', secret_env: 'COA_BNG1' }] },
  }).dynamic_authorization;
  try {
    resolveNasTable(cfg, { COA_DEFAULT: 'top-secret-value' });
    assert.unreachable('should throw');
  } catch (err) {
    const message = (err as Error).message;
    assert.match(message, /COA_BNG1/);
    assert.not.match(message, /top-secret-value/);
  }
  assert.is(resolveNasTable(radiusConfigSchema.parse({ sql: { path: 'x' } }).dynamic_authorization, {}).lookup('10.0.0.1').secret, null);
});

test.run();
