import { z } from 'zod';
import { peerBaseUrl } from '../peer-url.ts';

/**
 * Configuration of the NetBox IPAM. The token itself is never part of the configuration: only the
 * name of the environment variable that holds it, so a dumped or logged config carries no secret.
 */
export const netboxConfigSchema = z.strictObject({
  /** Base URL of NetBox, without `/api`, e.g. `https://netbox.example.net`. */
  url: peerBaseUrl('the token comes from token_env')
    // The client adds /api itself: a URL ending in it would ask /api/api/… and never resolve a parent.
    .refine((u) => !/\/api\/*$/.test(new URL(u).pathname), 'must be NetBox\'s base URL, without /api')
    .transform((u) => u.replace(/\/+$/, '')),
  token_env: z.string().regex(/^[A-Za-z_][A-Za-z0-9_]*$/, 'must be an environment variable name').default('NETBOX_TOKEN'),
  /** Per HTTP request; a request that hits it fails its step's attempt (retries are `retry.*`, one request each). */
  timeout_ms: z.int().min(100).max(120_000).default(5000),
  /**
   * For the allocation POST only. NetBox serializes allocations under one lock, so under a burst a
   * POST waits its turn; one the client gives up on still commits, so this covers the queue.
   */
  allocate_timeout_ms: z.int().min(100).max(600_000).default(60_000),
  /** Slug (and name) of the tag put on every prefix the service creates; it must exist in NetBox. */
  tag: z.string().regex(/^[-\w]+$/, 'must be a tag slug').max(100).default('ipv6-lifecycle'),
  /** Where the lifecycle mark goes: custom fields, the description, or custom fields when NetBox has them. */
  mark: z.enum(['custom_fields', 'description', 'auto']).default('auto'),
  release: z
    .strictObject({
      /** `deprecate` keeps the prefix (status `deprecated`) for `hold_down_s` so it is not handed out again at once. */
      mode: z.enum(['delete', 'deprecate']).default('delete'),
      hold_down_s: z.int().min(0).default(86_400),
    })
    .prefault({}),
});

/** The NetBox settings after defaults are applied. */
export type NetboxConfig = z.infer<typeof netboxConfigSchema>;
/** The NetBox settings as written in the configuration file. */
export type NetboxConfigInput = z.input<typeof netboxConfigSchema>;

/**
 * Per pool: which NetBox prefix is the parent. Either its id, or its prefix looked up at start-up in
 * one VRF — `vrf_id`, or `vrf` as a route distinguisher (NetBox's `vrf` filter matches the RD) — or,
 * with neither, in the global table.
 */
export const poolNetboxSchema = z.union([
  z.strictObject({ parent_id: z.int().positive() }),
  z
    .strictObject({
      parent_prefix: z.string().regex(/^[0-9a-fA-F:.]+\/\d{1,3}$/, 'must be an IPv6 prefix such as 2001:db8::/32'),
      vrf_id: z.int().positive().optional(),
      vrf: z.string().min(1).max(21).optional(),
    })
    .refine((p) => p.vrf_id === undefined || p.vrf === undefined, { message: 'give vrf_id or vrf, not both', path: ['vrf'] }),
]);

/** How one pool names its NetBox parent prefix. */
export type PoolNetbox = z.infer<typeof poolNetboxSchema>;
