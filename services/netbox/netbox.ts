import type { Logger } from 'pino';
import { ServiceError } from '../errors.ts';
import type { AllocateCommand, Allocation, KeyLookup, IpamPort, PoolInfo, ReleaseCommand } from '../ipam/port.ts';
import { contains, formatPrefix } from '../ipv6.ts';
import { canonicalCidr, parseCidr } from './cidr.ts';
import { QUARANTINED, isQuarantined, subscriberOf } from './quarantine.ts';
import type { NetboxConfig } from './config.ts';
import { createHoldings, type NetboxFieldPrefix, type NetboxPoolUtilization } from './holdings.ts';
import { createNetboxTransport, mayHaveTakenEffect, type NetboxTransport } from './http.ts';
import { createAdoption, markedFor } from './adopt.ts';
import { MARK_FIELDS, keySearchTerm, readMark, sameKey, type MarkStyle } from './mark.ts';
import { listPrefixes, resolvePools, statusOf, vrfScope, type NbPrefix, type NetboxPool, type ResolvedPool as Resolved } from './parents.ts';

export type { NetboxPool } from './parents.ts';

export type { NetboxPoolUtilization } from './holdings.ts';

/** The NetBox IPAM: the IPAM port plus start-up resolution and the hold-down sweep. */
export interface NetboxIpam extends IpamPort {
  /** Looks the parents up and picks the mark style; the other methods call it on first use. */
  init(signal?: AbortSignal): Promise<PoolInfo[]>;
  utilization(signal?: AbortSignal): Promise<NetboxPoolUtilization[]>;
  /** Deletes freed (deprecated, not quarantined) prefixes under our mark whose hold-down (from NetBox's `last_updated`) has expired. */
  sweep(signal?: AbortSignal): Promise<{ deleted: number; kept: number }>;
  /** Every prefix under the pools' parents, marked or not (the field readers, services/field/). */
  fieldPrefixes(signal?: AbortSignal): Promise<NetboxFieldPrefix[]>;
}

/** Test seams: the environment the token is read from and the clock of the sweep. */
export interface NetboxDeps {
  env?: Record<string, string | undefined>;
  now?: () => number;
}

/** Creates the NetBox implementation of the IPAM port; the token is read from `config.token_env`. */
export function createNetboxIpam(config: NetboxConfig, pools: NetboxPool[], log: Logger, deps: NetboxDeps = {}): NetboxIpam {
  const token = (deps.env ?? process.env)[config.token_env];
  if (!token) {
    throw new ServiceError('validation_error', `netbox.token_env: environment variable ${config.token_env} is not set`, {
      field: 'netbox.token_env',
    });
  }
  const http: NetboxTransport = createNetboxTransport(config, token);
  const now = deps.now ?? Date.now;
  const base = log.child({ ipam: 'netbox' });
  const inflight = new Map<string, Promise<Allocation>>();
  const unanswered = boundedSet(10_000);
  let style: MarkStyle = config.mark === 'auto' ? 'description' : config.mark;
  let ready: Promise<Map<string, Resolved>> | null = null;

  // A pool's hold-down: its own, else `netbox.release` (delete mode: none). Also for a pool since removed.
  const holdMsOf = (pool: string) => {
    const own = pools.find((p) => p.name === pool)?.holdDownS;
    return (own ?? (config.release.mode === 'deprecate' ? config.release.hold_down_s : 0)) * 1000;
  };
  const isSticky = (pool: string) => pools.find((p) => p.name === pool)?.sticky !== false && holdMsOf(pool) > 0;

  const listAll = (params: Record<string, string | number>, signal?: AbortSignal) => listPrefixes(http, params, signal, base);
  const holdings = createHoldings({ tag: config.tag, listAll, deletePrefix, holdMsOf, now, log: base });

  function resolved(signal?: AbortSignal): Promise<Map<string, Resolved>> {
    ready ??= resolvePools(http, config, pools, base, signal).then(
      (r) => {
        style = r.style;
        return r.pools;
      },
      (err: unknown) => {
        ready = null;
        throw err;
      },
    );
    return ready;
  }

  function toAllocation(pool: Resolved, p: NbPrefix, length: number): Allocation {
    const c = parseCidr(p.prefix);
    if (!c || !contains(pool.parent, c) || c.length !== length) {
      throw new ServiceError('upstream_rejected', `NetBox returned prefix ${p.prefix} (id ${p.id}), not a /${length} of ${pool.info.prefix}`);
    }
    return { prefix: formatPrefix(c), prefixLength: c.length, netboxPrefixId: p.id };
  }

  async function deletePrefix(id: number, signal?: AbortSignal): Promise<void> {
    await http.once({ method: 'DELETE', path: `/api/ipam/prefixes/${id}/`, expect: [404] }, signal);
  }

  /** The live prefixes marked with this key; duplicates (only a race of ours can make them) are deleted. */
  async function findByKey(pool: Resolved, cmd: AllocateCommand, log: Logger, signal?: AbortSignal): Promise<Allocation | null> {
    const search = style === 'custom_fields' ? `cf_${MARK_FIELDS.key}` : 'q';
    const hits = (await listAll({ tag: config.tag, [search]: keySearchTerm(style, cmd.key) }, signal))
      .filter((p) => statusOf(p) !== 'deprecated')
      .filter((p) => {
        const m = readMark(p, config.tag);
        return m !== null && sameKey(m, cmd.key);
      })
      .sort((a, b) => a.id - b.id);
    const [keep, ...extra] = hits;
    if (!keep) return null;
    const c = parseCidr(keep.prefix);
    if (!c || !contains(pool.parent, c) || c.length !== cmd.prefixLength || readMark(keep, config.tag)?.lifecycleId !== cmd.lifecycleId) {
      throw new ServiceError('idempotency_mismatch', `key "${cmd.key}" already allocated ${keep.prefix} (NetBox id ${keep.id}) elsewhere`, {
        field: 'key',
      });
    }
    for (const x of extra) {
      log.warn({ netbox_prefix_id: x.id, prefix: x.prefix }, 'deleting a duplicate NetBox prefix under the same idempotency key');
      await deletePrefix(x.id, signal);
    }
    return toAllocation(pool, keep, cmd.prefixLength);
  }

  /** Every live prefix marked with this key and lifecycle, duplicates included; no pool lookup, no POST. */
  async function heldUnder(cmd: KeyLookup, signal?: AbortSignal): Promise<Allocation[]> {
    const search = style === 'custom_fields' ? `cf_${MARK_FIELDS.key}` : 'q';
    const hits = await listAll({ tag: config.tag, [search]: keySearchTerm(style, cmd.key) }, signal);
    const out: Allocation[] = [];
    for (const p of hits) {
      const m = readMark(p, config.tag);
      const c = parseCidr(p.prefix);
      if (statusOf(p) === 'deprecated' || !m || !sameKey(m, cmd.key) || m.lifecycleId !== cmd.lifecycleId || !c) continue;
      out.push({ prefix: formatPrefix(c), prefixLength: c.length, netboxPrefixId: p.id });
    }
    return out;
  }

  async function allocateOnce(pool: Resolved, cmd: AllocateCommand, signal?: AbortSignal): Promise<Allocation> {
    const log = base.child({ lifecycle_id: cmd.lifecycleId, subscriber_id: cmd.subscriberId, pool: cmd.pool });
    const marked = markedFor(style, cmd);
    // The POST is not idempotent: every attempt of the step (the step runner repeats the whole call)
    // first looks for what an earlier, unanswered one created.
    const found = await findByKey(pool, cmd, log, signal);
    if (found) {
      unanswered.delete(cmd.key);
      log.info({ prefix: found.prefix, netbox_prefix_id: found.netboxPrefixId }, 'NetBox prefix already allocated under this key');
      return found;
    }
    const back = isSticky(cmd.pool) && !cmd.renumber ? await takeBack(pool, cmd, marked, signal) : null;
    if (back) {
      log.info({ prefix: back.prefix, netbox_prefix_id: back.netboxPrefixId }, 'NetBox prefix in its hold-down given back to its subscriber');
      return back;
    }
    const body = { prefix_length: cmd.prefixLength, status: 'active', tags: [{ name: config.tag }], ...marked };
    const path = `/api/ipam/prefixes/${pool.parentId}/available-prefixes/`;
    let res: { status: number; data: NbPrefix | NbPrefix[] };
    try {
      res = await http.once<NbPrefix | NbPrefix[]>({ method: 'POST', path, data: body, expect: [404, 409], timeoutMs: config.allocate_timeout_ms }, signal);
    } catch (err) {
      if (mayHaveTakenEffect(err)) unanswered.add(cmd.key);
      throw err;
    }
    if (res.status === 409) {
      throw new ServiceError('pool_exhausted', `pool "${cmd.pool}" (${pool.info.prefix}) has no free /${cmd.prefixLength}`);
    }
    if (res.status === 404) throw new ServiceError('not_found', `pool "${cmd.pool}": NetBox parent ${pool.parentId} is gone`);
    // The README says an object comes back for an object; the OpenAPI spec says `201: array of Prefix`.
    const made = Array.isArray(res.data) && res.data.length === 1 ? (res.data[0] as NbPrefix) : res.data;
    const allocation = toAllocation(pool, made as NbPrefix, cmd.prefixLength);
    log.info({ prefix: allocation.prefix, netbox_prefix_id: allocation.netboxPrefixId }, 'NetBox prefix allocated');
    if (!unanswered.delete(cmd.key)) return allocation;
    // An earlier POST of this key went unanswered and may have committed after the lookup above.
    // NetBox takes allocations in turn, so by now it has: the lookup keeps the first, deletes the rest.
    return (await findByKey(pool, cmd, log, signal)) ?? allocation;
  }

  /**
   * Owner affinity: the subscriber's freed prefix of this pool and length, still in its hold-down,
   * becomes the allocation under the new key. The PATCH is one write, so a repeated step finds it by key.
   */
  async function takeBack(pool: Resolved, cmd: AllocateCommand, marked: ReturnType<typeof markedFor>, signal?: AbortSignal): Promise<Allocation | null> {
    const search: Record<string, string> = style === 'custom_fields' ? { [`cf_${MARK_FIELDS.subscriberId}`]: cmd.subscriberId } : { q: `sub=${cmd.subscriberId}` };
    const holdMs = holdMsOf(cmd.pool);
    const mine = (await listAll({ tag: config.tag, status: 'deprecated', within: pool.info.prefix, ...vrfScope(pool), ...search }, signal))
      .filter((p) => statusOf(p) === 'deprecated' && readMark(p, config.tag) && !isQuarantined(p) && subscriberOf(p) === cmd.subscriberId)
      .filter((p) => parseCidr(p.prefix)?.length === cmd.prefixLength && Date.parse(p.last_updated ?? '') + holdMs > now())
      .sort((a, b) => Date.parse(b.last_updated ?? '') - Date.parse(a.last_updated ?? ''));
    for (const p of mine) {
      const data = { status: 'active', comments: '', tags: [{ name: config.tag }], ...marked };
      // 404: the sweep deleted it meanwhile; allocate afresh.
      const res = await http.once<NbPrefix>({ method: 'PATCH', path: `/api/ipam/prefixes/${p.id}/`, data, expect: [404] }, signal);
      if (res.status !== 404) return toAllocation(pool, res.data, cmd.prefixLength);
    }
    return null;
  }

  /** What a release may touch: our mark, this lifecycle, this prefix; anything else is left alone. */
  async function releaseTargets(cmd: ReleaseCommand, log: Logger, signal?: AbortSignal): Promise<NbPrefix[]> {
    const want = canonicalCidr(cmd.prefix);
    const ours = (p: NbPrefix) => readMark(p, config.tag)?.lifecycleId === cmd.lifecycleId && canonicalCidr(p.prefix) === want;
    let candidates: NbPrefix[];
    if (cmd.netboxPrefixId !== null) {
      const res = await http.once<NbPrefix>({ method: 'GET', path: `/api/ipam/prefixes/${cmd.netboxPrefixId}/`, expect: [404] }, signal);
      candidates = res.status === 404 ? [] : [res.data];
    } else {
      // No id: the allocation's answer never reached the lifecycle; find the prefix by value and mark.
      candidates = want ? await listAll({ prefix: want, tag: config.tag }, signal) : [];
    }
    const foreign = candidates.filter((p) => !ours(p));
    if (foreign.length > 0) {
      log.warn({ netbox_prefix_ids: foreign.map((p) => p.id) }, 'NetBox prefix lacks this lifecycle\'s mark; left untouched');
    }
    return candidates.filter(ours);
  }

  const adoptOnce = createAdoption({ config, http, log: base, resolved, heldUnder, style: () => style });

  return {
    adopt: (cmd, signal) => adoptOnce(cmd, signal),

    async init(signal) {
      return [...(await resolved(signal)).values()].map((r) => ({ ...r.info }));
    },

    async allocate(cmd, signal) {
      if (typeof cmd.key !== 'string' || cmd.key === '') {
        throw new ServiceError('validation_error', 'an allocation needs an idempotency key', { field: 'key' });
      }
      const pool = (await resolved(signal)).get(cmd.pool);
      if (!pool) throw new ServiceError('not_found', `unknown pool "${cmd.pool}"`, { field: 'pool' });
      if (!Number.isInteger(cmd.prefixLength) || cmd.prefixLength < pool.parent.length || cmd.prefixLength > 128) {
        throw new ServiceError('validation_error', `pool "${cmd.pool}" cannot delegate /${cmd.prefixLength}`, { field: 'prefixLength' });
      }
      // Two calls with one key in this process would both miss the lookup and allocate twice.
      const running = inflight.get(cmd.key);
      if (running) return running;
      const p = allocateOnce(pool, cmd, signal).finally(() => inflight.delete(cmd.key));
      inflight.set(cmd.key, p);
      return p;
    },

    allocatedUnder: (cmd, signal) => heldUnder(cmd, signal),

    // No pool lookup first: the mark alone decides, so a pool since removed or broken can still give back.
    // Read, then act on what was read: a repeated step reads again, and a 404 on the write is success.
    async release(cmd, signal) {
      const log = base.child({ lifecycle_id: cmd.lifecycleId, pool: cmd.pool, prefix: cmd.prefix });
      const targets = await releaseTargets(cmd, log, signal);
      if (targets.length === 0) log.info('NetBox no longer holds this prefix');
      for (const p of targets) {
        // Deprecated and quarantined, whatever release.mode says: the revocation still runs.
        if (statusOf(p) === 'deprecated') continue;
        await http.once({ method: 'PATCH', path: `/api/ipam/prefixes/${p.id}/`, data: { status: 'deprecated', comments: QUARANTINED }, expect: [404] }, signal);
        log.info({ netbox_prefix_id: p.id }, 'NetBox prefix deprecated and quarantined until the revocation ends');
      }
    },

    async free(cmd, signal) {
      const log = base.child({ lifecycle_id: cmd.lifecycleId, pool: cmd.pool, prefix: cmd.prefix });
      const holdMs = holdMsOf(cmd.pool);
      for (const p of await releaseTargets(cmd, log, signal)) {
        if (holdMs === 0) {
          await deletePrefix(p.id, signal);
          log.info({ netbox_prefix_id: p.id }, 'NetBox prefix deleted');
        } else if (statusOf(p) !== 'deprecated' || isQuarantined(p)) {
          // The PATCH sets last_updated, from which the sweep counts the hold-down.
          await http.once({ method: 'PATCH', path: `/api/ipam/prefixes/${p.id}/`, data: { status: 'deprecated', comments: '' }, expect: [404] }, signal);
          log.info({ netbox_prefix_id: p.id }, 'NetBox prefix freed; deprecated for its hold-down');
        }
      }
    },

    utilization: async (signal) => holdings.utilization([...(await resolved(signal)).values()], signal),
    markedPrefixes: async (signal) => holdings.markedPrefixes([...(await resolved(signal)).values()], signal),
    fieldPrefixes: async (signal) => holdings.fieldPrefixes([...(await resolved(signal)).values()], signal),
    sweep: async (signal) => holdings.sweep([...(await resolved(signal)).values()], signal),
  };
}

/** Keys of allocation POSTs that went unanswered; the oldest are forgotten (the clean-up is the backstop). */
function boundedSet(max: number) {
  const keys = new Set<string>();
  return {
    add(key: string) {
      keys.delete(key);
      keys.add(key);
      if (keys.size > max) keys.delete(keys.values().next().value as string);
    },
    delete: (key: string) => keys.delete(key),
  };
}
