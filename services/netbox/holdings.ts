import type { Logger } from 'pino';
import type { MarkedPrefix, PoolUtilization } from '../ipam/port.ts';
import { subnetCount, type Ipv6Prefix } from '../ipv6.ts';
import { blocksUsed, canonicalCidr, parseCidr } from './cidr.ts';
import { readMark } from './mark.ts';
import { statusOf, vrfScope, type NbPrefix, type ResolvedPool } from './parents.ts';
import { isQuarantined, subscriberOf } from './quarantine.ts';

/** Pool figures, split into blocks under this service's mark and blocks anyone else holds. */
export interface NetboxPoolUtilization extends PoolUtilization {
  ours: number;
  others: number;
}

/** A prefix NetBox holds inside a pool's parent, whoever made it, as the field readers see it. */
export interface NetboxFieldPrefix {
  pool: string;
  prefix: string;
  prefixLength: number;
  netboxPrefixId: number;
  status: string | null;
  /** The lifecycle our mark names; null for a prefix without our mark (made by hand or by another tool). */
  lifecycleId: string | null;
  subscriberId: string | null;
  /** The key our mark names (a description mark keeps its digest): what an adoption must take the prefix over under. */
  markKey?: { key: string; digest: boolean } | null;
  /** Released by a revocation that has not ended (services/netbox/quarantine.ts). */
  quarantined: boolean;
  /** What an adoption rule may name the subscriber by. */
  tenant: { id: number; name?: string; slug?: string } | null;
  description: string;
  customFields: Record<string, unknown>;
}

export interface HoldingsDeps {
  tag: string;
  listAll(params: Record<string, string | number>, signal?: AbortSignal): Promise<NbPrefix[]>;
  deletePrefix(id: number, signal?: AbortSignal): Promise<void>;
  holdMsOf(pool: string): number;
  now(): number;
  log: Logger;
}

/** What NetBox holds under the pools' parents, read whole: pool figures, leak detection, the hold-down sweep. */
export function createHoldings(deps: HoldingsDeps) {
  const { tag, listAll } = deps;
  return {
    async utilization(pools: ResolvedPool[], signal?: AbortSignal): Promise<NetboxPoolUtilization[]> {
      const out: NetboxPoolUtilization[] = [];
      for (const r of pools) {
        const children = await listAll({ within: r.info.prefix, ...vrfScope(r) }, signal);
        const cidrs = (list: NbPrefix[]) => list.map((p) => parseCidr(p.prefix)).filter((c): c is Ipv6Prefix => c !== null);
        const all = blocksUsed(r.parent, r.info.prefixLength, cidrs(children));
        const ours = blocksUsed(r.parent, r.info.prefixLength, cidrs(children.filter((p) => readMark(p, tag))));
        const held = blocksUsed(r.parent, r.info.prefixLength, cidrs(children.filter((p) => readMark(p, tag) && statusOf(p) === 'deprecated')));
        const cap = subnetCount(r.parent, r.info.prefixLength);
        out.push({ ...r.info, capacity: Number(cap), allocated: Number(all), heldDown: Number(held), ours: Number(ours), others: Number(all - ours) });
      }
      return out;
    },

    /** Every live prefix under our mark, with the lifecycle and the key (or its digest) the mark names. */
    async markedPrefixes(pools: ResolvedPool[], signal?: AbortSignal): Promise<MarkedPrefix[]> {
      const out: MarkedPrefix[] = [];
      for (const r of pools) {
        // Another pool may delegate from the same range in another VRF: its prefixes are not this pool's.
        for (const p of await listAll({ tag, within: r.info.prefix, ...vrfScope(r) }, signal)) {
          const mark = readMark(p, tag);
          // A deprecated prefix is in its hold-down: given back by its lifecycle, waiting for the sweep.
          if (!mark || statusOf(p) === 'deprecated') continue;
          const prefix = canonicalCidr(p.prefix) ?? p.prefix;
          out.push({ pool: r.info.name, prefix, lifecycleId: mark.lifecycleId, key: mark.key, ...(mark.digest ? { keyIsDigest: true } : {}) });
        }
      }
      return out;
    },

    /** Every prefix under each pool's parent (in the children's VRF), marked or not: the field as NetBox has it. */
    async fieldPrefixes(pools: ResolvedPool[], signal?: AbortSignal): Promise<NetboxFieldPrefix[]> {
      const out: NetboxFieldPrefix[] = [];
      for (const r of pools) {
        for (const p of await listAll({ within: r.info.prefix, ...vrfScope(r) }, signal)) {
          const c = parseCidr(p.prefix);
          if (!c) continue;
          const mark = readMark(p, tag);
          out.push({
            pool: r.info.name,
            prefix: canonicalCidr(p.prefix) ?? p.prefix,
            prefixLength: c.length,
            netboxPrefixId: p.id,
            status: statusOf(p) ?? null,
            lifecycleId: mark?.lifecycleId ?? null,
            subscriberId: mark ? subscriberOf(p) : null,
            markKey: mark ? { key: mark.key, digest: mark.digest } : null,
            quarantined: isQuarantined(p),
            tenant: p.tenant ?? null,
            description: p.description ?? '',
            customFields: p.custom_fields ?? {},
          });
        }
      }
      return out;
    },

    async sweep(pools: ResolvedPool[], signal?: AbortSignal): Promise<{ deleted: number; kept: number }> {
      let deleted = 0;
      let kept = 0;
      for (const r of pools) {
        const holdMs = deps.holdMsOf(r.info.name);
        for (const p of await listAll({ tag, status: 'deprecated', within: r.info.prefix, ...vrfScope(r) }, signal)) {
          // A quarantined prefix waits for its revocation to end, however long that takes.
          if (statusOf(p) !== 'deprecated' || !readMark(p, tag) || isQuarantined(p)) continue;
          const since = Date.parse(p.last_updated ?? '');
          if (Number.isNaN(since) || since + holdMs > deps.now()) {
            kept++;
            continue;
          }
          await deps.deletePrefix(p.id, signal);
          deps.log.info({ netbox_prefix_id: p.id, prefix: p.prefix }, 'hold-down expired; NetBox prefix deleted');
          deleted++;
        }
      }
      return { deleted, kept };
    },
  };
}
