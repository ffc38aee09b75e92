// The `radius:` fragment of the configuration file. Shared secrets are named by environment
// variable and resolved when a port is created, so they never sit in a config dump or a log line.
import { isIP } from 'node:net';
import { z } from 'zod';
import { canonicalIpAddress } from './ipv6-prefix.ts';

const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name');
const port = z.number().int().min(1).max(65535);
const action = z.enum(['disconnect', 'coa']);
const ipAddress = z
  .string()
  .refine((s) => isIP(s) !== 0, 'an IPv4 or IPv6 address')
  .transform(canonicalIpAddress);

/** One NAS (Dynamic Authorization Server), keyed by the address `radacct.nasipaddress` holds. */
const nasSchema = z
  .object({
    address: ipAddress,
    /** Environment variable holding this NAS's shared secret. */
    secret_env: envName.optional(),
    /** Inline secret: for tests and throw-away setups only; prefer `secret_env`. */
    secret: z.string().min(1).optional(),
    /** UDP port of its CoA listener; defaults to `default_port`. */
    port: port.optional(),
    /** How this NAS learns that attributes changed; defaults to `dynamic_authorization.action`. */
    action: action.optional(),
  })
  .strict()
  .refine((n) => !(n.secret_env !== undefined && n.secret !== undefined), 'give secret_env or secret, not both');

/** The SQL database FreeRADIUS reads (`radreply`) and writes (`radacct`) through rlm_sql. */
const sqlSchema = z
  .object({
    /** Only `sqlite` today; a `postgresql` or `mysql` backend would implement the same two ports. */
    backend: z.literal('sqlite').default('sqlite'),
    /** The file `rlm_sql_sqlite` opens (`sqlite { filename = ... }`). */
    path: z.string().min(1),
    /** FreeRADIUS holds the file open and locks it briefly on every request. */
    busy_timeout_ms: z.number().int().min(0).max(60_000).default(2000),
    /** Run FreeRADIUS's own schema file when the tables are missing (a fresh file); off by default. */
    create_schema: z.boolean().default(false),
    schema_file: z.string().min(1).default('/etc/freeradius/3.0/mods-config/sql/main/sqlite/schema.sql'),
  })
  .strict();

const replySchema = z
  .object({
    /**
     * `none`: we never write (nor delete) Framed-IPv6-Prefix; `given`: we write the WAN /64 the
     * command carries; `first64`: as `given`, else the first /64 of the delegated prefix.
     */
    framed_prefix: z.enum(['none', 'given', 'first64']).default('given'),
  })
  .strict();

const dynamicAuthorizationSchema = z
  .object({
    /**
     * What a `coa` notification becomes for NASes without their own `action`: a CoA-Request, or a
     * Disconnect-Request for NASes that cannot apply a CoA (the session re-authenticates and
     * reads the new radreply). A `disconnect` notification is always a Disconnect-Request.
     */
    action: action.default('coa'),
    default_port: port.default(3799),
    /** Environment variable with the secret of NASes not listed in `nas`. */
    default_secret_env: envName.optional(),
    /** First wait for an answer; doubled on every retransmit (RFC 5080 §2.2.1). */
    timeout_ms: z.number().int().min(10).max(60_000).default(1000),
    /** Retransmits after the first send, same bytes and Identifier each time. */
    retries: z.number().int().min(0).max(10).default(2),
    /** Send Message-Authenticator (RFC 5176 §3.4); NASes hardened against BlastRADIUS require it. */
    message_authenticator: z.boolean().default(true),
    /** How Delegated-IPv6-Prefix is encoded in a CoA-Request (RFC 3162 §2.3 allows both). */
    prefix_encoding: z.enum(['full', 'truncated']).default('full'),
    nas: z.array(nasSchema).default([]),
  })
  .strict()
  .refine((d) => new Set(d.nas.map((n) => n.address)).size === d.nas.length, 'each NAS address may appear once');

/** The `radius:` section: the SQL backend, the reply attributes, and dynamic authorization. */
export const radiusConfigSchema = z
  .object({
    sql: sqlSchema,
    reply: replySchema.prefault({}),
    dynamic_authorization: dynamicAuthorizationSchema.prefault({}),
  })
  .strict();

export type RadiusConfig = z.infer<typeof radiusConfigSchema>;
export type RadiusSqlConfig = RadiusConfig['sql'];
export type DynamicAuthorizationConfig = RadiusConfig['dynamic_authorization'];
export type NasConfig = DynamicAuthorizationConfig['nas'][number];
