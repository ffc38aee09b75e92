import pino from 'pino';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { genieacsConfigSchema } from '../../../services/genieacs/config.ts';
import { createGenieacsCpe } from '../../../services/genieacs/genieacs.ts';
import { pdParameters } from '../../../services/genieacs/profiles.ts';
import { startGenieacsNbi } from '../../support/genieacs-nbi.ts';

const test = suite('genieacs parameter profiles');

const tr098 = genieacsConfigSchema.parse({
  url: 'http://acs:7557',
  data_model: 'tr098-vendor',
  vendor_paths: {
    enable: [
      { path: 'InternetGatewayDevice.WANDevice.1.WANConnectionDevice.1.WANPPPConnection.1.X_ACME_IPv6Enable', value: true, type: 'xsd:boolean' },
      { path: 'InternetGatewayDevice.X_ACME_DHCPv6.PDMode', value: 'auto' },
    ],
    disable: [{ path: 'InternetGatewayDevice.X_ACME_DHCPv6.PDMode', value: 'off' }],
  },
});

test('pdParameters(tr181, enable/disable) for the configured WAN interface and client', () => {
  const c = genieacsConfigSchema.parse({ url: 'http://acs:7557', wan_interface: 'Device.IP.Interface.3', dhcpv6_client: 'Device.DHCPv6.Client.2' });
  assert.equal(pdParameters(c, 'enable'), [
    ['Device.IP.IPv6Enable', true, 'xsd:boolean'],
    ['Device.IP.Interface.3.IPv6Enable', true, 'xsd:boolean'],
    ['Device.DHCPv6.Client.2.RequestPrefixes', true, 'xsd:boolean'],
    ['Device.DHCPv6.Client.2.Enable', true, 'xsd:boolean'],
  ]);
  assert.equal(pdParameters(c, 'disable'), [
    ['Device.IP.Interface.3.IPv6Enable', false, 'xsd:boolean'],
    ['Device.DHCPv6.Client.2.RequestPrefixes', false, 'xsd:boolean'],
    ['Device.DHCPv6.Client.2.Enable', false, 'xsd:boolean'],
  ]);
});

test('pdParameters(tr098-vendor) is vendor_paths as given; the type only where configured', () => {
  assert.equal(pdParameters(tr098, 'enable'), [
    ['InternetGatewayDevice.WANDevice.1.WANConnectionDevice.1.WANPPPConnection.1.X_ACME_IPv6Enable', true, 'xsd:boolean'],
    ['InternetGatewayDevice.X_ACME_DHCPv6.PDMode', 'auto'],
  ]);
  assert.equal(pdParameters(tr098, 'disable'), [['InternetGatewayDevice.X_ACME_DHCPv6.PDMode', 'off']]);
});

test('a TR-098 CPE is switched through its vendor paths end to end', async () => {
  const nbi = await startGenieacsNbi();
  try {
    const d = nbi.addDevice({
      params: {
        'InternetGatewayDevice.WANDevice.1.WANConnectionDevice.1.WANPPPConnection.1.X_ACME_IPv6Enable': [false, 'xsd:boolean', true],
        'InternetGatewayDevice.X_ACME_DHCPv6.PDMode': ['off', 'xsd:string', true],
      },
    });
    const cpe = createGenieacsCpe({ ...tr098, url: nbi.url }, pino({ level: 'silent' }));
    assert.equal(await cpe.configurePd({ key: 'k:configurePd:1', cpeId: d.id, prefix: '2001:db8::/56' }), { status: 'done' });
    assert.is(nbi.value(d.id, 'InternetGatewayDevice.X_ACME_DHCPv6.PDMode'), 'auto');
    assert.is(nbi.value(d.id, 'InternetGatewayDevice.WANDevice.1.WANConnectionDevice.1.WANPPPConnection.1.X_ACME_IPv6Enable'), true);
    assert.equal(await cpe.removeIpv6({ key: 'k:removeIpv6:1', cpeId: d.id }), { status: 'done' });
    assert.is(nbi.value(d.id, 'InternetGatewayDevice.X_ACME_DHCPv6.PDMode'), 'off');
  } finally {
    await nbi.close();
  }
});

test.run();
