// The `radius:` fragment of the configuration file. Shared secrets are named by environment
// variable and resolved when a port is created, so they never sit in a config dump or a log line.
import { readFileSync } from 'node:fs';
import { isIP } from 'node:net';
import { z } from 'zod';
import { canonicalIpAddress } from './ipv6-prefix.ts';
import { IDENTIFYING_ATTRIBUTES, NAS_PROFILE_NAMES } from './nas-profiles.ts';

const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'an environment variable name');
const port = z.number().int().min(1).max(65535);
const action = z.enum(['disconnect', 'coa']);
const ipAddress = z
  .string()
  // isIP takes a zone index (fe80::1%eth0), which canonicalIpAddress refuses: refused here, by key.
  .refine((s) => isIP(s) !== 0 && !s.includes('%'), 'an IPv4 or IPv6 address')
  .transform(canonicalIpAddress);

/** One NAS (Dynamic Authorization Server), keyed by the address `radacct.nasipaddress` holds. */
const nasSchema = z
  .object({
    address: ipAddress,
    /** Where its CoA listener is reached when that is not `address` (a loopback NAS-IP, NAT); answers are taken only from there. */
    coa_address: ipAddress.optional(),
    /** Environment variable holding this NAS's shared secret. */
    secret_env: envName.optional(),
    /** Inline secret: for tests and throw-away setups only; prefer `secret_env`. */
    secret: z.string().min(1).optional(),
    /** UDP port of its CoA listener; defaults to `default_port`. */
    port: port.optional(),
    /** How this NAS learns that attributes changed; defaults to `dynamic_authorization.action`. */
    action: action.optional(),
    /** What kind of NAS it is (services/radius/nas-profiles.ts); defaults to `rfc5176`. */
    profile: z.enum(NAS_PROFILE_NAMES).optional(),
    /** The attributes identifying a session in its requests; overrides the profile's. */
    attributes: z.array(z.enum(IDENTIFYING_ATTRIBUTES)).min(1).optional(),
    /** It reports Delegated-IPv6-Prefix in accounting; overrides the profile's. */
    reports_pd: z.boolean().optional(),
    /** A CoA that accounting did not confirm: `keep`, or `disconnect` the session; overrides the profile's. */
    unconfirmed_coa: z.enum(['keep', 'disconnect']).optional(),
  })
  .strict()
  .refine((n) => !(n.secret_env !== undefined && n.secret !== undefined), 'give secret_env or secret, not both');

export const SQL_BACKENDS = ['sqlite', 'postgresql', 'mysql'] as const;
export type SqlBackend = (typeof SQL_BACKENDS)[number];
/** Where Debian's freeradius packages put each dialect's schema. */
export const shippedSchemaFile = (backend: SqlBackend) => `/etc/freeradius/3.0/mods-config/sql/main/${backend}/schema.sql`;

/** TLS towards PostgreSQL or MariaDB; off by default (a loopback or private link). */
const tlsSchema = z
  .object({
    /** `disable`; `require` (encrypted, any certificate); `verify` (the certificate must chain to `ca_file` or the system roots and name the host). */
    mode: z.enum(['disable', 'require', 'verify']).default('disable'),
    /** PEM file of the CA that signed the server's certificate. */
    ca_file: z.string().min(1).optional(),
    /** The name the certificate must carry when it differs from `host`. */
    servername: z.string().min(1).optional(),
  })
  .strict();

/**
 * The SQL database FreeRADIUS reads (`radreply`) and writes (`radacct`) through rlm_sql: SQLite's
 * file, or a PostgreSQL or MySQL/MariaDB server that several RADIUS servers share.
 */
const sqlFields = z
  .object({
    /** `sqlite` (rlm_sql_sqlite), `postgresql` (rlm_sql_postgresql) or `mysql` (rlm_sql_mysql, MariaDB too). */
    backend: z.enum(SQL_BACKENDS).default('sqlite'),
    /** sqlite: the file `rlm_sql_sqlite` opens (`sqlite { filename = ... }`). */
    path: z.string().min(1).optional(),
    /** sqlite: FreeRADIUS holds the file open and locks it briefly on every request. */
    busy_timeout_ms: z.number().int().min(0).max(60_000).default(2000),
    /** Run FreeRADIUS's own schema file when the tables are missing (a fresh database); off by default. */
    create_schema: z.boolean().default(false),
    /** Defaults to Debian's copy of FreeRADIUS's schema.sql for the backend. */
    schema_file: z.string().min(1).optional(),
    /** postgresql/mysql: environment variable holding the whole URL (postgres://… or mysql://…); replaces host..password. */
    url_env: envName.optional(),
    host: z.string().min(1).default('127.0.0.1'),
    /** Defaults to 5432 (postgresql) or 3306 (mysql). */
    port: port.optional(),
    database: z.string().min(1).default('radius'),
    user: z.string().min(1).default('radius'),
    /** Environment variable holding the database user's password. */
    password_env: envName.optional(),
    /** Connections held open at most; writes beyond it wait for one. */
    pool_size: z.number().int().min(1).max(100).default(4),
    /** A statement that runs longer is abandoned and fails as retryable. */
    statement_timeout_ms: z.number().int().min(100).max(600_000).default(5000),
    connect_timeout_ms: z.number().int().min(100).max(600_000).default(5000),
    tls: tlsSchema.prefault({}),
  })
  .strict();
const sqlSchema = sqlFields
  .superRefine((c, ctx) => {
    if (c.backend === 'sqlite' && c.path === undefined) ctx.addIssue({ code: 'custom', path: ['path'], message: 'the sqlite backend needs path' });
    if (c.backend !== 'sqlite' && c.path !== undefined) ctx.addIssue({ code: 'custom', path: ['path'], message: `path is for sqlite; ${c.backend} takes host/port/database/user or url_env` });
  })
  // Each backend keeps only its own settings, so a dump (--check-config) shows what is in effect.
  .transform((c): SqliteSqlConfig | ServerSqlConfig => {
    const { backend, path, busy_timeout_ms, create_schema, schema_file, ...server } = c;
    const schema = schema_file ?? shippedSchemaFile(backend);
    if (backend === 'sqlite') return { backend, path: path ?? '', busy_timeout_ms, create_schema, schema_file: schema };
    return { backend, create_schema, schema_file: schema, ...server };
  });

type SqlInput = z.output<typeof sqlFields>;
/** `radius.sql` for rlm_sql_sqlite. */
export interface SqliteSqlConfig {
  backend: 'sqlite';
  path: string;
  busy_timeout_ms: number;
  create_schema: boolean;
  schema_file: string;
}
/** `radius.sql` for rlm_sql_postgresql or rlm_sql_mysql. */
export type ServerSqlConfig = { backend: 'postgresql' | 'mysql'; create_schema: boolean; schema_file: string } & Omit<
  SqlInput,
  'backend' | 'path' | 'busy_timeout_ms' | 'create_schema' | 'schema_file'
>;

/** The sqlite settings, or a start-up error when another backend is configured. */
export function sqliteSettings(sql: RadiusSqlConfig): SqliteSqlConfig {
  if (sql.backend !== 'sqlite') throw new Error(`radius.sql.backend is ${sql.backend}: this code path is for sqlite`);
  return sql;
}

const replySchema = z
  .object({
    /**
     * `none`: we never write (nor delete) Framed-IPv6-Prefix; `given`: we write the WAN /64 the
     * command carries, and remove the user's when it carries none; `first64`: as `given`, else the
     * first /64 of the delegated prefix. The default is `none`: no operation of the API carries a WAN
     * /64, so under `given` every one removed the row the ISP had put there, for good.
     */
    framed_prefix: z.enum(['none', 'given', 'first64']).default('none'),
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
    /**
     * After an ACK, how long to watch radacct for its effect (0: take the ACK as it is). A NAS can
     * ACK what it ignores; a Disconnect is confirmed when the session's row is stopped, a CoA with a
     * prefix when a session of the user reports that Delegated-IPv6-Prefix (Interim-Update or a new Start).
     */
    confirm_window_ms: z.number().int().min(0).max(600_000).default(0),
    /** How often radacct is read during that window. */
    confirm_poll_ms: z.number().int().min(10).max(60_000).default(250),
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

/** A file the `radius.sql` section names, read at start-up; a failure names the key, since a bare ENOENT does not say which setting to fix. */
export function readConfiguredFile(key: string, file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (err) {
    throw new Error(`${key} ${file} cannot be read: ${(err as Error).message}`);
  }
}
