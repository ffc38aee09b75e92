import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { genieacsConfigSchema } from '../../../services/genieacs/config.ts';

const test = suite('genieacs configuration');

test('genieacsConfigSchema fills the defaults from only url', () => {
  assert.equal(genieacsConfigSchema.parse({ url: 'http://acs:7557/' }), {
    url: 'http://acs:7557',
    timeout_ms: 30_000,
    connection_request: true,
    task_timeout_ms: 3000,
    task_expiry_s: 604_800,
    data_model: 'tr181',
    wan_interface: 'Device.IP.Interface.2',
    dhcpv6_client: 'Device.DHCPv6.Client.1',
  });
});

test('genieacsConfigSchema accepts a trailing dot on the TR-181 instances and drops it', () => {
  const c = genieacsConfigSchema.parse({ url: 'https://acs.example.net/nbi', wan_interface: 'Device.IP.Interface.3.', dhcpv6_client: 'Device.DHCPv6.Client.2' });
  assert.is(c.wan_interface, 'Device.IP.Interface.3');
  assert.is(c.dhcpv6_client, 'Device.DHCPv6.Client.2');
  assert.is(c.url, 'https://acs.example.net/nbi');
});

test('genieacsConfigSchema takes vendor_paths for tr098-vendor, with and without an xsd type', () => {
  const c = genieacsConfigSchema.parse({
    url: 'http://acs:7557',
    data_model: 'tr098-vendor',
    vendor_paths: {
      enable: [{ path: 'InternetGatewayDevice.X_ACME_IPv6.PDEnable', value: true, type: 'xsd:boolean' }, { path: 'InternetGatewayDevice.X_ACME_IPv6.Mode', value: 'dhcpv6-pd' }],
      disable: [{ path: 'InternetGatewayDevice.X_ACME_IPv6.PDEnable', value: 0 }],
    },
  });
  assert.is(c.vendor_paths?.enable.length, 2);
});

test('genieacsConfigSchema rejects each bad setting, naming the key', () => {
  const vendor = { enable: [{ path: 'InternetGatewayDevice.X_A.On', value: true }], disable: [{ path: 'InternetGatewayDevice.X_A.On', value: false }] };
  const cases: [Record<string, unknown>, string][] = [
    [{ url: 'http://admin:secret@acs:7557' }, 'url'],
    [{ url: 'http://acs:7557?x=1' }, 'url'],
    [{ url: 'ftp://acs' }, 'url'],
    [{ url: 'http://acs:7557', username_env: 'ACS_USER' }, 'password_env'],
    [{ url: 'http://acs:7557', password_env: 'ACS_PASSWORD' }, 'username_env'],
    [{ url: 'http://acs:7557', username_env: 'acs user', password_env: 'P' }, 'username_env'],
    [{ url: 'http://acs:7557', data_model: 'tr098-vendor' }, 'vendor_paths'],
    [{ url: 'http://acs:7557', vendor_paths: vendor }, 'vendor_paths'],
    [{ url: 'http://acs:7557', data_model: 'tr098-vendor', vendor_paths: { enable: [], disable: vendor.disable } }, 'vendor_paths.enable'],
    [{ url: 'http://acs:7557', data_model: 'tr098-vendor', vendor_paths: { ...vendor, disable: [{ path: 'InternetGatewayDevice.X_A.', value: false }] } }, 'vendor_paths.disable.0.path'],
    [{ url: 'http://acs:7557', data_model: 'tr098-vendor', vendor_paths: { ...vendor, disable: [{ path: 'InternetGatewayDevice.X_A.On', value: null }] } }, 'vendor_paths.disable.0.value'],
    [{ url: 'http://acs:7557', data_model: 'tr098-vendor', vendor_paths: { ...vendor, disable: [{ path: 'InternetGatewayDevice.X_A.On', value: 1, type: 'boolean' }] } }, 'vendor_paths.disable.0.type'],
    [{ url: 'http://acs:7557', wan_interface: 'Device.IP.Interface' }, 'wan_interface'],
    [{ url: 'http://acs:7557', wan_interface: 'Device.PPP.Interface.1' }, 'wan_interface'],
    [{ url: 'http://acs:7557', dhcpv6_client: 'Device.DHCPv6.Client.0' }, 'dhcpv6_client'],
    [{ url: 'http://acs:7557', timeout_ms: 3000, task_timeout_ms: 3000 }, 'timeout_ms'],
    [{ url: 'http://acs:7557', task_expiry_s: 10 }, 'task_expiry_s'],
    [{ url: 'http://acs:7557', password: 'inline' }, ''],
  ];
  for (const [input, key] of cases) {
    const r = genieacsConfigSchema.safeParse(input);
    assert.is(r.success, false, JSON.stringify(input));
    const paths = r.error!.issues.map((i) => i.path.join('.'));
    assert.ok(paths.includes(key), `${JSON.stringify(input)}: expected an issue at "${key}", got ${JSON.stringify(paths)}`);
  }
});

test('without a connection request, timeout_ms need not exceed task_timeout_ms', () => {
  assert.ok(genieacsConfigSchema.safeParse({ url: 'http://acs:7557', connection_request: false, timeout_ms: 1000, task_timeout_ms: 3000 }).success);
});

test.run();
