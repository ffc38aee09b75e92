import pino from 'pino';
import { netboxConfigSchema } from '../../services/netbox/config.ts';
import { MARK_FIELDS } from '../../services/netbox/mark.ts';
import { createNetboxIpam, type NetboxPool } from '../../services/netbox/netbox.ts';
import { startNetboxServer, V1_TOKEN } from '../support/netbox-server.ts';
import { ipamContract } from './ipam-suite.ts';

/**
 * The NetBox client against the local NetBox, once per mark style. Each pool's parent is a NetBox
 * prefix; one pool names it by id and the others by prefix, so both lookups run under the contract.
 */
function netboxHarness(customFields: string[]) {
  return async (pools: readonly { name: string; prefix: string; prefixLength: number }[]) => {
    const server = await startNetboxServer({ customFields });
    const netboxPools: NetboxPool[] = pools.map((p, i) => {
      const parent = server.addPrefix({ prefix: p.prefix, status: i === 0 ? 'container' : 'active' });
      return { ...p, netbox: i === 0 ? { parent_id: parent.id } : { parent_prefix: p.prefix } };
    });
    const config = netboxConfigSchema.parse({ url: server.url });
    const ipam = createNetboxIpam(config, netboxPools, pino({ level: 'silent' }), { env: { NETBOX_TOKEN: V1_TOKEN } });
    return { ipam, pools: await ipam.init(), close: () => server.close() };
  };
}

ipamContract('netbox (custom-field mark)', netboxHarness(Object.values(MARK_FIELDS)));
ipamContract('netbox (description mark)', netboxHarness([]));
