import type { Logger } from 'pino';
import { ServiceError } from '../errors.ts';
import type { PoolInfo } from '../ipam/port.ts';
import { formatPrefix, type Ipv6Prefix } from '../ipv6.ts';
import { canonicalCidr, parseCidr } from './cidr.ts';
import type { NetboxConfig, PoolNetbox } from './config.ts';
import type { NetboxTransport } from './http.ts';
import { MARK_FIELDS, type MarkStyle } from './mark.ts';

/** A pool served by NetBox: `prefix` is optional and, when given, must match the parent NetBox has. */
export interface NetboxPool {
  name: string;
  prefixLength: number;
  prefix?: string;
  netbox: PoolNetbox;
  /** Seconds a freed prefix stays `deprecated` before the sweep deletes it; unset: `netbox.release` decides. */
  holdDownS?: number;
  /** A subscriber allocated again within the hold-down gets its freed prefix back; true unless set. */
  sticky?: boolean;
}

/** A prefix as NetBox returns it (the fields this client reads). */
export interface NbPrefix {
  id: number;
  prefix: string;
  status?: { value?: string } | string | null;
  vrf?: { id: number; rd?: string | null } | null;
  tags?: Array<{ name?: string; slug?: string }>;
  custom_fields?: Record<string, unknown> | null;
  tenant?: { id: number; name?: string; slug?: string } | null;
  description?: string;
  comments?: string | null;
  last_updated?: string | null;
}

/** A pool with its NetBox parent looked up. */
export interface ResolvedPool {
  info: PoolInfo;
  parentId: number;
  parent: Ipv6Prefix;
  /** `vrf_id` of the children: NetBox gives an allocated child the parent's VRF. */
  vrfId: string;
  /** A global-table container counts children of every VRF as used (NetBox's available-prefixes rule). */
  anyVrf: boolean;
}

const PAGE = 1000;

/** The `vrf_id` filter of a pool's children (none for a global container, whose rule counts every VRF). */
export const vrfScope = (r: ResolvedPool): Record<string, string> => (r.anyVrf ? {} : { vrf_id: r.vrfId });

/** The status value of a prefix, whether NetBox sent `{value, label}` or a plain string. */
export const statusOf = (p: NbPrefix): string | undefined => (typeof p.status === 'string' ? p.status : (p.status?.value ?? undefined));

/** Transports whose NetBox ignored `ordering=id` / `id__gt` (a proxy or plugin that drops them): offset paging from then on. */
const offsetOnly = new WeakSet<NetboxTransport>();

type Page = { next: string | null; results: NbPrefix[] };

async function fetchPage(http: NetboxTransport, params: Record<string, string | number>, signal?: AbortSignal): Promise<Page> {
  const { data } = await http.once<Page>({ method: 'GET', path: '/api/ipam/prefixes/', params }, signal);
  if (!Array.isArray(data.results)) throw new ServiceError('upstream_rejected', 'NetBox prefix list without results; check netbox.url');
  return data;
}

/**
 * Keyset paging, `ordering=id&id__gt=<last id>`: a prefix created during the walk gets a higher id
 * and comes last, one deleted is simply absent; nothing shifts. Null when a page holds an id at or
 * below the last one: the server ignored the parameters, as NetBox ignores any it does not know.
 */
async function keysetWalk(http: NetboxTransport, params: Record<string, string | number>, signal?: AbortSignal): Promise<NbPrefix[] | null> {
  const all: NbPrefix[] = [];
  for (let last = 0; ; ) {
    const data = await fetchPage(http, { ...params, ordering: 'id', id__gt: last, limit: PAGE }, signal);
    for (const p of data.results) {
      if (!(p.id > last)) return null;
      last = p.id;
    }
    all.push(...data.results);
    if (!data.next || data.results.length === 0) return all;
  }
}

/** Offset paging, the fallback: a prefix created or deleted before the walk's position shifts the rest by one. */
async function offsetWalk(http: NetboxTransport, params: Record<string, string | number>, signal?: AbortSignal): Promise<NbPrefix[]> {
  const all: NbPrefix[] = [];
  // Offsets rather than following `next`: a proxy in front of NetBox can put another host in it.
  for (let offset = 0; ; ) {
    const data = await fetchPage(http, { ...params, limit: PAGE, offset }, signal);
    all.push(...data.results);
    if (!data.next || data.results.length === 0) return all;
    offset += data.results.length;
  }
}

/** Every prefix matching `params`, one attempt per page; by id (keyset) unless this NetBox ignored that once. */
export async function listPrefixes(
  http: NetboxTransport,
  params: Record<string, string | number>,
  signal?: AbortSignal,
  log?: Logger,
): Promise<NbPrefix[]> {
  if (!offsetOnly.has(http)) {
    const rows = await keysetWalk(http, params, signal);
    if (rows) return rows;
    offsetOnly.add(http);
    log?.warn(
      { netbox_paging: 'offset' },
      'NetBox ignored ordering=id / id__gt on /api/ipam/prefixes/; paging by offset, where a prefix created or deleted during a walk can be skipped or seen twice',
    );
  }
  return offsetWalk(http, params, signal);
}

async function fetchParent(http: NetboxTransport, pool: NetboxPool, log: Logger, signal?: AbortSignal): Promise<NbPrefix> {
  const nb = pool.netbox;
  if ('parent_id' in nb) {
    const res = await http.once<NbPrefix>({ method: 'GET', path: `/api/ipam/prefixes/${nb.parent_id}/`, expect: [404] }, signal);
    if (res.status === 404) throw new ServiceError('not_found', `pool "${pool.name}": NetBox has no prefix with id ${nb.parent_id}`);
    return res.data;
  }
  const want = canonicalCidr(nb.parent_prefix);
  if (!want) throw new ServiceError('validation_error', `pool "${pool.name}": bad netbox.parent_prefix`, { field: 'netbox.parent_prefix' });
  const vrf: Record<string, string | number> = nb.vrf_id ? { vrf_id: nb.vrf_id } : nb.vrf ? { vrf: nb.vrf } : { vrf_id: 'null' };
  // NetBox ignores a filter it does not know, so the answer is checked here rather than trusted.
  const hits = (await listPrefixes(http, { prefix: want, ...vrf }, signal, log)).filter(
    (p) => canonicalCidr(p.prefix) === want && (nb.vrf_id ? p.vrf?.id === nb.vrf_id : nb.vrf ? p.vrf?.rd === nb.vrf : !p.vrf),
  );
  const where = nb.vrf_id ? `VRF id ${nb.vrf_id}` : nb.vrf ? `VRF ${nb.vrf}` : 'the global table';
  if (hits.length === 0) throw new ServiceError('not_found', `pool "${pool.name}": NetBox has no prefix ${want} in ${where}`);
  if (hits.length > 1) {
    throw new ServiceError('validation_error', `pool "${pool.name}": ${want} exists ${hits.length} times in ${where}; configure netbox.parent_id`);
  }
  return hits[0] as NbPrefix;
}

function check(pool: NetboxPool, p: NbPrefix): ResolvedPool {
  const parent = parseCidr(p.prefix);
  if (!parent) throw new ServiceError('upstream_rejected', `pool "${pool.name}": NetBox prefix ${p.id} is not a prefix (${p.prefix})`);
  const prefix = formatPrefix(parent);
  if (pool.prefix !== undefined && canonicalCidr(pool.prefix) !== prefix) {
    throw new ServiceError('validation_error', `pool "${pool.name}": prefix ${pool.prefix} but its NetBox parent ${p.id} is ${prefix}`, {
      field: 'prefix',
    });
  }
  if (!Number.isInteger(pool.prefixLength) || pool.prefixLength < parent.length || pool.prefixLength > 128) {
    throw new ServiceError('validation_error', `pool "${pool.name}": cannot delegate /${pool.prefixLength} from ${prefix}`, {
      field: 'prefixLength',
    });
  }
  return {
    info: { name: pool.name, prefix, prefixLength: pool.prefixLength },
    parentId: p.id,
    parent,
    vrfId: p.vrf ? String(p.vrf.id) : 'null',
    anyVrf: !p.vrf && statusOf(p) === 'container',
  };
}

/**
 * Looks every pool's parent up and decides where the mark goes. One attempt per request: the caller
 * retries the whole resolution (compose.ts at start-up, the step runner when a step triggers it).
 */
export async function resolvePools(
  http: NetboxTransport,
  config: NetboxConfig,
  pools: NetboxPool[],
  log: Logger,
  signal?: AbortSignal,
): Promise<{ pools: Map<string, ResolvedPool>; style: MarkStyle }> {
  const out = new Map<string, ResolvedPool>();
  let fields: Record<string, unknown> = {};
  for (const pool of pools) {
    if (out.has(pool.name)) throw new ServiceError('validation_error', `pool "${pool.name}" is configured twice`);
    const p = await fetchParent(http, pool, log, signal);
    fields = p.custom_fields ?? {};
    out.set(pool.name, check(pool, p));
  }
  // NetBox returns every custom field of the object type on read, null when unset: the parent tells us which exist.
  const missing = Object.values(MARK_FIELDS).filter((f) => !(f in fields));
  if (config.mark === 'custom_fields' && missing.length > 0 && pools.length > 0) {
    throw new ServiceError('validation_error', `netbox.mark is custom_fields but NetBox lacks the custom field(s) ${missing.join(', ')}`, {
      field: 'netbox.mark',
    });
  }
  const style: MarkStyle = config.mark !== 'auto' ? config.mark : missing.length === 0 && pools.length > 0 ? 'custom_fields' : 'description';
  log.info({ pools: [...out.values()].map((r) => ({ ...r.info, netbox_parent_id: r.parentId })), mark: style }, 'NetBox pools resolved');
  return { pools: out, style };
}
