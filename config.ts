// The configuration file (JSON or YAML), validated at start-up. Secrets are never in it: keys named
// `*_env` name the environment variable that holds one.
import { readFileSync } from 'node:fs';
import { Cron } from 'croner';
import { parseConfigText } from './config-text.ts';
import { z } from 'zod';
import { crossFieldIssues } from './config-cross.ts';
import { environmentIssues } from './config-env.ts';
import { genieacsConfigSchema } from './services/genieacs/config.ts';
import { netboxConfigSchema, poolNetboxSchema } from './services/netbox/config.ts';
import { radiusConfigSchema } from './services/radius/config.ts';

const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name');
const sessionAction = z.enum(['disconnect', 'coa']);

/** What the reconciliation does with one kind of difference. */
const repairPolicy = (fallback: 'repair' | 'report') => z.enum(['repair', 'report']).default(fallback);

// A cron expression croner accepts (5 fields, or 6 with seconds first); parsed once here so that
// --check-config and start-up refuse a bad one by its key instead of the scheduler at 02:00.
const cron = (fallback: string) =>
  z
    .string()
    .default(fallback)
    .superRefine((expr, ctx) => {
      try {
        new Cron(expr, { paused: true }).stop();
      } catch (err) {
        ctx.addIssue({ code: 'custom', message: `not a cron expression (${(err as Error).message})` });
      }
    });

const timezone = z
  .string()
  .default('UTC')
  .refine((tz) => {
    try {
      new Intl.DateTimeFormat('en', { timeZone: tz });
      return true;
    } catch {
      return false;
    }
  }, 'must be an IANA time zone such as UTC or Europe/Paris');

const poolSchema = z.strictObject({
  name: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9_.-]{0,62}$/, 'must be 1-63 letters, digits, _ . -'),
  /** Parent prefix the pool delegates from, e.g. `2001:db8::/32`. */
  prefix: z.string().regex(/^[0-9a-fA-F:]+\/\d{1,3}$/, 'must be an IPv6 prefix such as 2001:db8::/32'),
  /** Default length of the delegated prefixes, e.g. 56. */
  prefix_length: z.int().min(1).max(64),
  /**
   * Seconds a freed prefix is held down before it is handed out again, counted from the end of the
   * revocation that released it. Unset: 600 in the embedded IPAM; NetBox `netbox.release.hold_down_s`
   * in `deprecate` mode, 0 in `delete` mode.
   */
  hold_down_s: z.int().min(0).max(31_536_000).optional(),
  /** A subscriber allocated again while its old prefix is held down gets that prefix back. */
  sticky: z.boolean().default(true),
  /** Present when NetBox serves this pool; absent for the embedded IPAM. */
  netbox: poolNetboxSchema.optional(),
});

export const configSchema = z
  .strictObject({
    listen: z.strictObject({ host: z.string().min(1).default('127.0.0.1'), port: z.int().min(0).max(65535).default(8080) }).prefault({}),
    /** The SQLite file: lifecycles, audit trail and the embedded IPAM's pools. */
    database: z.string().min(1).default('./data/ipv6-lifecycle.sqlite'),
    /** Where the store lives: the SQLite file above (one process), or PostgreSQL (several instances, issue 11). */
    store: z
      .strictObject({
        backend: z.enum(['sqlite', 'postgresql']).default('sqlite'),
        /** Environment variable holding the PostgreSQL connection URL (never the URL itself: it holds a password). */
        url_env: envName.default('IPV6_LIFECYCLE_DATABASE_URL'),
        /** Connections per instance at most: N instances need N × this of the server's max_connections. */
        pool_max: z.int().min(1).max(500).default(10),
        /**
         * PostgreSQL: how long an instance owns a subscriber's work without renewing its lease (it
         * renews every third of it): the longest another instance waits before it resumes the work
         * of one that died or froze.
         */
        lease_ms: z.int().min(500).max(600_000).default(15_000),
        /** PostgreSQL: how often an instance tries to become the leader (singleton jobs) and checks it still is. */
        leader_interval_ms: z.int().min(50).max(60_000).default(1000),
        /** PostgreSQL: this instance's name in the leases and logs (host name unless set), followed by its process id and a random suffix. */
        instance_id: z.string().min(1).max(200).optional(),
      })
      .prefault({}),
    api: z
      .strictObject({
        /** Environment variable holding the bearer token; unset → a random token is printed once at start-up. */
        token_env: envName.default('IPV6_LIFECYCLE_API_TOKEN'),
        body_limit_bytes: z.int().min(1024).max(10 * 1024 * 1024).default(64 * 1024),
        /** `?wait=` default for operations that start outside work. */
        default_wait_ms: z.int().min(0).max(600_000).default(5000),
        max_wait_ms: z.int().min(0).max(600_000).default(60_000),
        /** When set, `GET /metrics` also needs this bearer token. */
        metrics_token_env: envName.optional(),
        /** How long an `Idempotency-Key` is remembered. */
        idempotency_ttl_s: z.int().min(60).default(86_400),
      })
      .prefault({}),
    // A pool removed from this list while lifecycles still use it drains (compose.ts, store/pool-use.ts):
    // no new allocation, its lifecycles still revoke through the IPAM that holds their prefixes.
    pools: z
      .array(poolSchema)
      .min(1)
      .default([{ name: 'documentation', prefix: '2001:db8::/32', prefix_length: 56, hold_down_s: 600, sticky: true }])
      .refine((pools) => new Set(pools.map((p) => p.name)).size === pools.length, 'pool names must be unique'),
    /** Pool used when a request names none; defaults to the first pool. */
    default_pool: z.string().optional(),
    /** Attempts of every outside step (NetBox: one request each) before the lifecycle goes `failed`. */
    retry: z
      .strictObject({
        attempts: z.int().min(1).max(20).default(6),
        base_ms: z.int().min(0).max(60_000).default(200),
        max_ms: z.int().min(0).max(600_000).default(10_000),
        /** A peer's Retry-After up to this is waited out; a longer one ends the step (the lifecycle goes `failed`, retryable). */
        retry_after_max_ms: z.int().min(0).max(600_000).default(30_000),
      })
      .prefault({}),
    /** Which RFC 5176 request each operation sends to open sessions. */
    sessions: z
      .strictObject({
        suspend: sessionAction.default('disconnect'),
        revoke: sessionAction.default('disconnect'),
        reactivate: sessionAction.default('coa'),
        update: sessionAction.default('coa'),
      })
      .prefault({}),
    runtime: z
      .strictObject({
        /** A settled actor is unloaded from memory after this long; it stays in the store. */
        idle_ms: z.int().min(100).default(60_000),
        /** At most this many actors in memory: past it the least recently used settled ones are unloaded at once. */
        max_live_actors: z.int().min(1).default(10_000),
        /** An actor whose step has waited on its peer this long, nobody waiting on it, is unloaded; the call goes on (runtime/flights.ts). */
        park_ms: z.int().min(10).default(1000),
        /** How often pending CPE work (an offline CPE) is retried. */
        pending_interval_ms: z.int().min(100).default(30_000),
        pending_backoff_max_ms: z.int().min(1000).default(3_600_000),
        /** Gone with issue 9: said by name, since a configuration that still sets it expects a schedule. */
        cleanup_interval_ms: z
          .never({ error: 'replaced by jobs.leaks.cron (leak check and reclaim) and jobs.cleanup.cron (stale clean-up, retention)' })
          .optional(),
        /** Revoke a lifecycle left `allocated` (never activated) longer than this; 0 keeps them forever. */
        stale_allocated_after_s: z.int().min(0).default(0),
        /** Free prefixes IPAM holds under a settled lifecycle's mark that the lifecycle does not hold (runtime/cleanup.ts). */
        reclaim_leaks: z.boolean().default(true),
        /** A prefix not returned to IPAM this long after its lifecycle ended counts once in ipv6_prefix_leak_total. */
        leak_after_s: z.int().min(0).default(86_400),
        /** On SIGTERM, how long requests in flight may still settle before they answer 202 with a Location. */
        drain_ms: z.int().min(0).default(5000),
      })
      .prefault({}),
    /** The scheduled jobs (runtime/jobs.ts); each also runs on demand, `POST /api/v1/network/ipv6/jobs/{job}`. */
    jobs: z
      .strictObject({
        /** The time zone the cron expressions are read in. */
        timezone,
        cleanup: z
          .strictObject({
            /** Stale allocations revoked, retention applied: daily at 02:00. */
            cron: cron('0 2 * * *'),
            /** Revoked lifecycles older than this leave the live tables (their audit trail stays); 0 keeps them. */
            retention_days: z.int().min(0).max(36_500).default(90),
            /** The audit trail of revoked lifecycles older than this is pruned in batches; 0 keeps it forever. */
            audit_retention_days: z.int().min(0).max(36_500).default(0),
          })
          .prefault({}),
        /** Leak check, leaked prefixes reclaimed, NetBox hold-downs swept: every 15 minutes. */
        leaks: z.strictObject({ cron: cron('*/15 * * * *') }).prefault({}),
        /** IPAM, lifecycles, radreply, radacct and the CPEs compared (runtime/reconcile.ts): hourly. */
        reconcile: z.strictObject({ cron: cron('17 * * * *') }).prefault({}),
      })
      .prefault({}),
    /** How the `reconcile` job reads the field and what it repairs (docs/adoption.md, "Reconciliation"). */
    reconcile: z
      .strictObject({
        /** Per kind of difference: `repair` what is unambiguous, or only `report` it. */
        repair: z
          .strictObject({
            ipam_orphan: repairPolicy('report'),
            ipam_missing: z.literal('report').default('report'),
            radreply_missing: repairPolicy('repair'),
            radreply_stale: repairPolicy('repair'),
            radreply_stale_unknown: repairPolicy('report'),
            session_foreign_prefix: z.literal('report').default('report'),
            cpe_still_delegating: repairPolicy('repair'),
            cpe_not_delegating: repairPolicy('report'),
          })
          .prefault({}),
        /** An open radacct row without an interim update for this long is a lost Stop, not a session. */
        session_stale_s: z.int().min(60).default(172_800),
        /** Rows per radreply / radacct page, and lifecycles per store page. */
        page_size: z.int().min(10).max(100_000).default(1000),
        /** CPEs per GenieACS projection query. */
        cpe_batch_size: z.int().min(1).max(1000).default(100),
      })
      .prefault({}),
    /**
     * Requests in flight at once to each peer (runtime/peer-limits.ts); more wait their turn. Start-up
     * recovery and the pending worker would otherwise send thousands at once.
     */
    limits: z
      .strictObject({
        netbox: z.strictObject({ concurrency: z.int().min(1).max(10_000).default(16) }).prefault({}),
        genieacs: z.strictObject({ concurrency: z.int().min(1).max(10_000).default(32) }).prefault({}),
        radius_sql: z.strictObject({ concurrency: z.int().min(1).max(10_000).default(16) }).prefault({}),
        nas: z.strictObject({ concurrency: z.int().min(1).max(10_000).default(64) }).prefault({}),
      })
      .prefault({}),
    netbox: netboxConfigSchema.optional(),
    radius: radiusConfigSchema.optional(),
    genieacs: genieacsConfigSchema.optional(),
    log: z.strictObject({ level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info') }).prefault({}),
    inspector: z
      .strictObject({
        enabled: z.boolean().default(false),
        // Loopback: the bridge has no authentication and shows every lifecycle's context.
        host: z.string().min(1).default('127.0.0.1'),
        port: z.int().min(0).max(65535).default(5678),
      })
      .prefault({}),
  })
  // `when`: the cross-field checks run even when a key failed its own schema, so one round lists every error.
  .superRefine((c, ctx) => crossFieldIssues(c, ctx.addIssue), { when: () => true });

export type Config = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;

/** A configuration error that names the key. */
export class ConfigError extends Error {}

/**
 * Validates a parsed configuration object; the error lists every bad key as `a.b.c: message`.
 * With `env`, also every secret the configuration names (set, tokens long enough), in the same list.
 */
export function parseConfig(raw: unknown, env?: NodeJS.ProcessEnv): Config {
  const result = configSchema.safeParse(raw ?? {});
  const lines = result.success ? [] : result.error.issues.map((i) => `  ${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`);
  if (env) lines.push(...environmentIssues(result.success ? result.data : (raw ?? {}), env));
  if (lines.length === 0 && result.success) return result.data;
  throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
}

/** Reads a JSON or YAML file (by extension; YAML parses JSON too). No file → the embedded defaults. With `env`, checks secrets too. */
export function loadConfig(file: string | undefined, env?: NodeJS.ProcessEnv): Config {
  if (!file) return parseConfig({}, env);
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read configuration file ${file}: ${(err as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = parseConfigText(text, file.endsWith('.json'));
  } catch (err) {
    throw new ConfigError(`configuration file ${file} is not valid ${file.endsWith('.json') ? 'JSON' : 'YAML'}: ${(err as Error).message}`);
  }
  return parseConfig(raw, env);
}
