// Which CPE parameters turn DHCPv6 prefix delegation on and off, per data model. The prefix itself
// is never written to the CPE: the BNG hands it out in DHCPv6 (from RADIUS Delegated-IPv6-Prefix),
// the CPE only has to ask for one (IA_PD, RFC 8415 §6.3).
import type { GenieacsConfig } from './config.ts';

/** One entry of a setParameterValues task: `[path, value]` or `[path, value, xsdType]`. */
export type ParameterValue = [string, string | number | boolean] | [string, string | number | boolean, string];

/** Whether the task turns prefix delegation on or off. */
export type PdSwitch = 'enable' | 'disable';

/**
 * The parameters set in one SetParameterValues (atomic on the CPE, TR-069 A.3.2.1). TR-181 on:
 * the global IPv6 switch, the WAN interface's IPv6, and the DHCPv6 client with IA_PD requested.
 * Off: the client and the WAN's IPv6, but not `Device.IP.IPv6Enable`, which also carries the LAN's
 * ULA and link-local service that this service did not turn on.
 */
export function pdParameters(config: GenieacsConfig, which: PdSwitch): ParameterValue[] {
  if (config.data_model === 'tr098-vendor') {
    const list = config.vendor_paths?.[which];
    // The schema requires vendor_paths for this model; reaching here without them is a wiring bug.
    if (!list) throw new Error('genieacs.vendor_paths is required for data_model tr098-vendor');
    return list.map((p): ParameterValue => (p.type ? [p.path, p.value, p.type] : [p.path, p.value]));
  }
  const on = which === 'enable';
  const client = config.dhcpv6_client;
  const params: ParameterValue[] = [
    [`${config.wan_interface}.IPv6Enable`, on, 'xsd:boolean'],
    [`${client}.RequestPrefixes`, on, 'xsd:boolean'],
    [`${client}.Enable`, on, 'xsd:boolean'],
  ];
  if (on) params.unshift(['Device.IP.IPv6Enable', true, 'xsd:boolean']);
  return params;
}
