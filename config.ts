// The configuration file (JSON or YAML), validated at start-up. Secrets are never in it: keys named
// `*_env` name the environment variable that holds one.
import { readFileSync } from 'node:fs';
import { parse as parseYaml } from 'yaml';
import { z } from 'zod';
import { genieacsConfigSchema } from './services/genieacs/config.ts';
import { overlaps, parsePrefix, type Ipv6Prefix } from './services/ipv6.ts';
import { netboxConfigSchema, poolNetboxSchema } from './services/netbox/config.ts';
import { radiusConfigSchema } from './services/radius/config.ts';

const envName = z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name');
const sessionAction = z.enum(['disconnect', 'coa']);

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
        /** How often pending CPE work (an offline CPE) is retried. */
        pending_interval_ms: z.int().min(100).default(30_000),
        pending_backoff_max_ms: z.int().min(1000).default(3_600_000),
        /** How often leak detection and the clean-up run. */
        cleanup_interval_ms: z.int().min(1000).default(300_000),
        /** Revoke a lifecycle left `allocated` (never activated) longer than this; 0 keeps them forever. */
        stale_allocated_after_s: z.int().min(0).default(0),
        /** Release prefixes IPAM still holds for lifecycles that are revoked. */
        reclaim_leaks: z.boolean().default(true),
      })
      .prefault({}),
    netbox: netboxConfigSchema.optional(),
    radius: radiusConfigSchema.optional(),
    genieacs: genieacsConfigSchema.optional(),
    log: z.strictObject({ level: z.enum(['trace', 'debug', 'info', 'warn', 'error', 'fatal', 'silent']).default('info') }).prefault({}),
    inspector: z.strictObject({ enabled: z.boolean().default(false), port: z.int().min(1).max(65535).default(5678) }).prefault({}),
  })
  .superRefine((c, ctx) => {
    const names = c.pools.map((p) => p.name);
    if (c.default_pool !== undefined && !names.includes(c.default_pool)) {
      ctx.addIssue({ code: 'custom', path: ['default_pool'], message: `must name a pool (${names.join(', ')})` });
    }
    const parsed: (Ipv6Prefix | null)[] = c.pools.map((p, i) => {
      try {
        return parsePrefix(p.prefix, `pools.${i}.prefix`);
      } catch (err) {
        ctx.addIssue({ code: 'custom', path: ['pools', i, 'prefix'], message: (err as Error).message });
        return null;
      }
    });
    // Two pools over the same space would hand out the same prefix twice.
    parsed.forEach((a, i) =>
      parsed.slice(i + 1).forEach((b, k) => {
        if (a && b && overlaps(a, b)) {
          ctx.addIssue({ code: 'custom', path: ['pools', i + 1 + k, 'prefix'], message: `overlaps pool ${c.pools[i]!.name} (${c.pools[i]!.prefix})` });
        }
      }),
    );
    c.pools.forEach((p, i) => {
      const parent = Number(p.prefix.split('/')[1]);
      if (p.prefix_length <= parent) ctx.addIssue({ code: 'custom', path: ['pools', i, 'prefix_length'], message: `must be longer than the pool's /${parent}` });
      if (p.netbox && !c.netbox) ctx.addIssue({ code: 'custom', path: ['pools', i, 'netbox'], message: 'needs a top-level netbox section' });
    });
  });

export type Config = z.infer<typeof configSchema>;
export type ConfigInput = z.input<typeof configSchema>;

/** A configuration error that names the key. */
export class ConfigError extends Error {}

/** Validates a parsed configuration object; the error lists every bad key as `a.b.c: message`. */
export function parseConfig(raw: unknown): Config {
  const result = configSchema.safeParse(raw ?? {});
  if (result.success) return result.data;
  const lines = result.error.issues.map((i) => `  ${i.path.length ? i.path.join('.') : '(root)'}: ${i.message}`);
  throw new ConfigError(`invalid configuration:\n${lines.join('\n')}`);
}

/** Reads a JSON or YAML file (by extension; YAML parses JSON too). No file → the embedded defaults. */
export function loadConfig(file: string | undefined): Config {
  if (!file) return parseConfig({});
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`cannot read configuration file ${file}: ${(err as Error).message}`);
  }
  let raw: unknown;
  try {
    raw = file.endsWith('.json') ? JSON.parse(text) : parseYaml(text);
  } catch (err) {
    throw new ConfigError(`configuration file ${file} is not valid ${file.endsWith('.json') ? 'JSON' : 'YAML'}: ${(err as Error).message}`);
  }
  return parseConfig(raw);
}
