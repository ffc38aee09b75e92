import type { Logger } from 'pino';
import { ServiceError } from '../errors.ts';
import type { AdoptCommand, Allocation, KeyLookup } from '../ipam/port.ts';
import { contains, formatPrefix } from '../ipv6.ts';
import { canonicalCidr, parseCidr } from './cidr.ts';
import type { NetboxConfig } from './config.ts';
import type { NetboxTransport } from './http.ts';
import { markFields, readMark, sameKey, type Mark, type MarkStyle } from './mark.ts';
import { listPrefixes, statusOf, vrfScope, type NbPrefix, type ResolvedPool } from './parents.ts';

/** The mark's fields for a create or update; a lifecycle id too long for a description mark is a validation error. */
export function markedFor(style: MarkStyle, mark: Mark): ReturnType<typeof markFields> {
  try {
    return markFields(style, mark);
  } catch (err) {
    throw new ServiceError('validation_error', `lifecycle id "${mark.lifecycleId}" is too long for a description mark`, { cause: err });
  }
}

/** Why a legacy prefix NetBox has retired is not adopted: the import's plan (`netbox_deprecated`) and adoptOnce say it alike. */
export const retiredMessage = (prefix: string, netboxPrefixId: number): string =>
  `${prefix} (NetBox id ${netboxPrefixId}) is retired in NetBox (status deprecated): set it active to adopt it`;

export interface AdoptionDeps {
  config: NetboxConfig;
  http: NetboxTransport;
  log: Logger;
  resolved: (signal?: AbortSignal) => Promise<Map<string, ResolvedPool>>;
  heldUnder: (cmd: KeyLookup, signal?: AbortSignal) => Promise<Allocation[]>;
  style: () => MarkStyle;
}

/**
 * Adoption: the prefix NetBox already has (by id, else by value in the pool's VRF) gets our tag and
 * mark; one NetBox lacks is created with them. One write, so a repeated adoption finds it by key.
 */
export function createAdoption({ config, http, log, resolved, heldUnder, style }: AdoptionDeps) {
  return async function adoptOnce(cmd: AdoptCommand, signal?: AbortSignal): Promise<Allocation> {
    const pool = (await resolved(signal)).get(cmd.pool);
    if (!pool) throw new ServiceError('not_found', `unknown pool "${cmd.pool}"`, { field: 'pool' });
    const c = parseCidr(cmd.prefix);
    if (!c || !contains(pool.parent, c)) throw new ServiceError('validation_error', `${cmd.prefix} is not inside pool "${cmd.pool}" (${pool.info.prefix})`, { field: 'prefix' });
    const want = formatPrefix(c);
    const held = (await heldUnder(cmd, signal)).find((a) => a.prefix === want);
    if (held) return held;
    const marked = markedFor(style(), cmd);
    let candidates: NbPrefix[];
    if (cmd.netboxPrefixId != null) {
      const res = await http.once<NbPrefix>({ method: 'GET', path: `/api/ipam/prefixes/${cmd.netboxPrefixId}/`, expect: [404] }, signal);
      candidates = res.status === 404 ? [] : [res.data];
    } else {
      candidates = await listPrefixes(http, { prefix: want, ...vrfScope(pool) }, signal, log);
    }
    const existing = candidates.find((p) => canonicalCidr(p.prefix) === want);
    const other = existing ? readMark(existing, config.tag) : null;
    if (other && (other.lifecycleId !== cmd.lifecycleId || !sameKey(other, cmd.key))) {
      throw new ServiceError('idempotency_mismatch', `${want} (NetBox id ${existing!.id}) is marked for lifecycle ${other.lifecycleId}`, { field: 'prefix' });
    }
    // The plan refuses such a prefix, but an operator may retire it between the plan and the apply:
    // the PATCH below would set it active, a retired subscriber's prefix back in service. Our own
    // mark's deprecated prefix is a hold-down, given back to its lifecycle.
    if (existing && !other && statusOf(existing) === 'deprecated') {
      throw new ServiceError('netbox_deprecated', retiredMessage(want, existing.id), { field: 'prefix' });
    }
    // A custom-field mark leaves the operator's description alone: it may be what named the subscriber.
    const fields = style() === 'custom_fields' && existing?.description ? { ...marked, description: existing.description } : marked;
    const tags = [...new Set([...(existing?.tags ?? []).map((t) => t.name ?? t.slug ?? ''), config.tag])].filter((t) => t !== '').map((name) => ({ name }));
    const data = { status: 'active', tags, ...fields };
    const res = existing
      ? await http.once<NbPrefix>({ method: 'PATCH', path: `/api/ipam/prefixes/${existing.id}/`, data, expect: [404] }, signal)
      : await http.once<NbPrefix>({ method: 'POST', path: '/api/ipam/prefixes/', data: { ...data, prefix: want, ...(pool.vrfId === 'null' ? {} : { vrf: Number(pool.vrfId) }) } }, signal);
    if (res.status === 404) throw new ServiceError('not_found', `NetBox prefix ${existing?.id} of ${want} is gone`, { field: 'prefix' });
    log.info({ lifecycle_id: cmd.lifecycleId, prefix: want, netbox_prefix_id: res.data.id }, 'NetBox prefix adopted');
    return { prefix: want, prefixLength: c.length, netboxPrefixId: res.data.id };
  };
}
