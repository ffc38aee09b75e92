// The `genieacs:` fragment of the configuration file. Basic-auth credentials (for an NBI behind a
// proxy) are named by environment variable and read when the port is created, so a dumped or
// logged configuration never carries them.
import { z } from 'zod';
import { peerBaseUrl } from '../peer-url.ts';

const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name');
const xsdType = z.string().regex(/^xsd:[A-Za-z]+$/, 'must be an XML Schema type such as xsd:boolean');
// A parameter, not an object: CWMP SetParameterValues rejects a path ending in a dot.
const parameterPath = z
  .string()
  .max(256)
  .regex(/^[A-Za-z_][A-Za-z0-9_-]*(\.[A-Za-z0-9_-]+)+$/, 'must be a parameter path such as InternetGatewayDevice.X_ACME_IPv6.Enable');
const instancePath = (object: string) =>
  z
    .string()
    .regex(new RegExp(`^${object.replace(/\./g, '\\.')}\\.[1-9]\\d*\\.?$`), `must be ${object}.<instance number>`)
    .transform((p) => p.replace(/\.$/, ''));

/** One parameter of a SetParameterValues; without `type`, GenieACS uses the type it has stored. */
const vendorParameter = z.strictObject({
  path: parameterPath,
  value: z.union([z.string(), z.number(), z.boolean()]),
  type: xsdType.optional(),
});

/** The parameters of a CPE without standard IPv6 paths (TR-098 vendor extensions), set in one task each. */
const vendorPathsSchema = z.strictObject({
  /** Set to turn DHCPv6 prefix delegation on. */
  enable: z.array(vendorParameter).min(1),
  /** Set to turn it off again. */
  disable: z.array(vendorParameter).min(1),
});

/** The `genieacs:` section: where the NBI is, how long to wait, and which CPE parameters to set. */
export const genieacsConfigSchema = z
  .strictObject({
    /** Base URL of the NBI, e.g. `http://acs:7557`. */
    url: peerBaseUrl('use username_env and password_env').transform((u) => u.replace(/\/+$/, '')),
    /** Environment variable with the basic-auth user, when a proxy in front of the NBI asks for one. */
    username_env: envName.optional(),
    /** Environment variable with the basic-auth password; given together with `username_env`. */
    password_env: envName.optional(),
    /**
     * Per HTTP request. With a connection request the NBI holds the answer until the CPE's session
     * ends, so this must cover `task_timeout_ms` plus a whole CWMP session.
     */
    timeout_ms: z.int().min(1000).max(600_000).default(30_000),
    /** Ask the CPE to connect at once; off, every task waits for the CPE's next periodic inform. */
    connection_request: z.boolean().default(true),
    /** `?timeout=` of the NBI: how long it waits for the CPE's session to start. */
    task_timeout_ms: z.int().min(0).max(120_000).default(3000),
    /** GenieACS drops a queued task this long after it was (re)submitted. */
    task_expiry_s: z.int().min(60).max(31_536_000).default(604_800),
    /** `tr181`: the standard Device:2 paths below; `tr098-vendor`: the paths in `vendor_paths`. */
    data_model: z.enum(['tr181', 'tr098-vendor']).default('tr181'),
    /** TR-181: the WAN IP interface whose `IPv6Enable` is switched. */
    wan_interface: instancePath('Device.IP.Interface').default('Device.IP.Interface.2'),
    /** TR-181: the DHCPv6 client (already bound to the WAN interface) that requests the prefix. */
    dhcpv6_client: instancePath('Device.DHCPv6.Client').default('Device.DHCPv6.Client.1'),
    /** For `tr098-vendor` only: the vendor parameters that turn PD on and off. */
    vendor_paths: vendorPathsSchema.optional(),
  })
  .superRefine((c, ctx) => {
    if ((c.username_env === undefined) !== (c.password_env === undefined)) {
      ctx.addIssue({ code: 'custom', path: [c.username_env ? 'password_env' : 'username_env'], message: 'give username_env and password_env together' });
    }
    if (c.data_model === 'tr098-vendor' && !c.vendor_paths) {
      ctx.addIssue({ code: 'custom', path: ['vendor_paths'], message: 'is required when data_model is tr098-vendor (TR-098 has no standard IPv6 paths)' });
    }
    if (c.data_model === 'tr181' && c.vendor_paths) {
      ctx.addIssue({ code: 'custom', path: ['vendor_paths'], message: 'applies to data_model tr098-vendor only' });
    }
    if (c.connection_request && c.timeout_ms <= c.task_timeout_ms) {
      ctx.addIssue({ code: 'custom', path: ['timeout_ms'], message: 'must be longer than task_timeout_ms (the NBI answers after the session ends)' });
    }
  });

/** The GenieACS settings after defaults are applied. */
export type GenieacsConfig = z.infer<typeof genieacsConfigSchema>;
/** The GenieACS settings as written in the configuration file. */
export type GenieacsConfigInput = z.input<typeof genieacsConfigSchema>;
