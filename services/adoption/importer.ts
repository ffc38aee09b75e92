import pLimit from 'p-limit';
import type { PoolSpec } from '../../runtime/operation-types.ts';
import { LIFECYCLE_STATES } from '../../machines/types.ts';
import type { ListCursor } from '../../store/lifecycles.ts';
import type { LifecyclePort } from '../../store/port.ts';
import { ServiceError } from '../errors.ts';
import type { IpamPort } from '../ipam/port.ts';
import { networkOf, parsePrefix, type Ipv6Prefix } from '../ipv6.ts';
import { adoptCommand, applyPlan, type ApplyDeps } from './apply.ts';
import { plan, summarize, type KnownLifecycles } from './plan.ts';
import { checkRule, fromFile, fromNetbox, fromRadius, type Observation } from './sources.ts';
import type { ImportOptions, ImportReport, ImportSources, NetboxFieldPrefix, PlanEntry, RadiusFieldSource } from './types.ts';

// One import, the same for POST /api/v1/network/ipv6/import and `npm run import`: read the sources,
// join them into the plan, and (unless a dry run) apply it. Every run derives the plan afresh from
// the field and the store, so a run after a killed one adopts exactly what that one did not.

export interface ImporterDeps {
  pools: readonly PoolSpec[];
  store: LifecyclePort;
  ipam: IpamPort;
  /** NetBox's prefixes under every pool parent; null when no pool is served by NetBox. */
  netbox: { fieldPrefixes(signal?: AbortSignal): Promise<NetboxFieldPrefix[]> } | null;
  /** FreeRADIUS's radreply and radacct, read only; null when no RADIUS database is configured. */
  radius: RadiusFieldSource | null;
  now?: () => Date;
  afterBatch?: ApplyDeps['afterBatch'];
}

export interface ImportRequest {
  sources: ImportSources;
  options?: ImportOptions | undefined;
  dryRun: boolean;
}

export async function runImport(req: ImportRequest, deps: ImporterDeps, signal?: AbortSignal): Promise<ImportReport> {
  const { sources } = req;
  const now = deps.now ?? (() => new Date());
  if (!sources.netbox && !sources.radius && !sources.file) {
    throw new ServiceError('validation_error', 'sources: name at least one of netbox, radius, file', { field: 'sources' });
  }
  if (sources.netbox && !deps.netbox) throw new ServiceError('validation_error', 'sources.netbox: no pool is served by NetBox', { field: 'sources.netbox' });
  if (sources.radius && !deps.radius) throw new ServiceError('validation_error', 'sources.radius: no RADIUS SQL database is configured (radius.sql)', { field: 'sources.radius' });
  if (sources.netbox) checkRule(sources.netbox.subscriber);

  // concat, not push(...): a spread passes every observation as an argument and overflows the
  // stack (RangeError) at about 120k, an ISP's NetBox listing.
  let observations: Observation[] = [];
  let listing: NetboxFieldPrefix[] | null = null;
  if (sources.netbox) observations = observations.concat(fromNetbox((listing = await deps.netbox!.fieldPrefixes(signal)), sources.netbox.subscriber));
  if (sources.radius) observations = observations.concat(await fromRadius(deps.radius!, { sessions: sources.radius.sessions !== false, ...(signal ? { signal } : {}) }));
  if (sources.file) observations = observations.concat(fromFile(sources.file.records));

  const known = await knownLifecycles(deps.store);
  const entries = plan({
    observations,
    pools: deps.pools,
    known,
    storedIds: await storedMarks(observations, known, deps.store),
    radiusRead: Boolean(sources.radius),
    subscriberFromUsername: req.options?.subscriber_from_username === true,
  });
  // NetBox's adopt() refuses a prefix under another lifecycle's mark, one in its hold-down too (which
  // the netbox source leaves out): its listing says which, read for a file line if not read already.
  if (deps.netbox && !listing && entries.some((e) => e.action === 'adopt' && e.ipam === 'netbox')) listing = await deps.netbox.fieldPrefixes(signal);
  await heldInIpam(entries, deps.ipam, listing ?? [], signal);
  const report: ImportReport = {
    dry_run: req.dryRun,
    generated_at: now().toISOString(),
    sources: Object.keys(sources).filter((k) => sources[k as keyof ImportSources]),
    summary: summarize(entries),
    applied: null,
    entries,
  };
  if (req.dryRun) return report;
  report.applied = await applyPlan(entries, {
    ipam: deps.ipam,
    store: deps.store,
    now,
    ...(req.options?.batch_size ? { batchSize: req.options.batch_size } : {}),
    ...(deps.afterBatch ? { afterBatch: deps.afterBatch } : {}),
    ...(signal ? { signal } : {}),
  });
  return report;
}

/**
 * The importer of a running service (compose.ts wires it): NetBox's listing when a pool is served
 * by NetBox and the IPAM lists it; FreeRADIUS's radreply and radacct read on a connection opened for
 * the run that asks for them (read only), closed after it.
 */
export function createImporter(deps: Pick<ImporterDeps, 'pools' | 'store' | 'ipam'> & { openRadius: (() => RadiusFieldSource & { close(): Promise<void> }) | null }) {
  const fieldIpam = deps.ipam as IpamPort & Partial<NonNullable<ImporterDeps['netbox']>>;
  const netbox = deps.pools.some((p) => p.ipam === 'netbox') && typeof fieldIpam.fieldPrefixes === 'function' ? (fieldIpam as NonNullable<ImporterDeps['netbox']>) : null;
  return async (req: ImportRequest, signal?: AbortSignal): Promise<ImportReport> => {
    const radius = req.sources.radius && deps.openRadius ? deps.openRadius() : null;
    try {
      return await runImport(req, { pools: deps.pools, store: deps.store, ipam: deps.ipam, netbox, radius }, signal);
    } finally {
      await radius?.close();
    }
  };
}

/**
 * The entries to adopt that IPAM would refuse, asked before the apply, dry run or not: a block the
 * live lifecycles do not show, held down after a revocation or taken by an allocation in flight,
 * is refused by adopt(); planned here, the dry run names it as the real run meets it. The embedded
 * IPAM is asked per entry; NetBox's refusals are its marks, in the listing.
 */
async function heldInIpam(entries: PlanEntry[], ipam: IpamPort, listing: readonly NetboxFieldPrefix[], signal?: AbortSignal): Promise<void> {
  const marked = new Map(listing.filter((p) => p.lifecycleId !== null).map((p) => [p.prefix, p]));
  const netboxRefusal = (e: PlanEntry): string | null => {
    const p = marked.get(e.prefix);
    if (!p || p.lifecycleId === e.lifecycle_id) return null;
    return `${e.prefix} (NetBox id ${p.netboxPrefixId}) is marked for lifecycle ${p.lifecycleId}${p.status === 'deprecated' ? ', in its hold-down' : ''}`;
  };
  const limit = pLimit(8);
  await Promise.all(
    entries
      .filter((e) => e.action === 'adopt')
      .map((e) =>
        limit(async () => {
          const refused = e.ipam === 'netbox' ? netboxRefusal(e) : ((await ipam.adoptionRefusal?.(adoptCommand(e), signal)) ?? null);
          if (refused === null) return;
          e.conflicts.push({ kind: 'ipam_held', message: refused });
          e.action = 'conflict';
        }),
      ),
  );
}

/**
 * Of the lifecycle ids our NetBox marks name, those the store has: a live one from the walk, any
 * other (revoked, or one a restored database forgot) asked for, few after a first import. A revoked
 * one the retention took out of the live table is still had: its audit trail stays and says revoked.
 */
async function storedMarks(observations: readonly Observation[], known: KnownLifecycles, store: Pick<LifecyclePort, 'holder' | 'events'>): Promise<Set<string>> {
  const stored = new Set<string>();
  const subscriberOf = new Map(observations.filter((o) => o.markedFor !== null).map((o) => [o.markedFor!, o.mark?.subscriberId ?? null]));
  for (const [id, subscriber] of subscriberOf) {
    if (known.liveIds?.has(id) || (await store.holder(id))) stored.add(id);
    else if (subscriber !== null && (await store.events(subscriber)).some((e) => e.lifecycle_id === id)) stored.add(id);
  }
  return stored;
}

/**
 * The live lifecycles, by subscriber, by prefix and by username: each live state's lifecycles page by page, without
 * their snapshots (the leak check's walk). Held for the run: the plan looks every entry up.
 */
/** Live rows read per turn of the event loop (~10 ms): the SQLite store answers a page at once. */
export const KNOWN_PAGE = 1000;

export async function knownLifecycles(store: Pick<LifecyclePort, 'heldPage'>): Promise<KnownLifecycles> {
  const bySubscriber = new Map<string, { id: string; prefix: string | null }>();
  const byPrefix = new Map<string, { id: string; subscriber_id: string }>();
  const byUsername = new Map<string, { id: string; subscriber_id: string }>();
  const PAGE = KNOWN_PAGE;
  for (const state of LIFECYCLE_STATES.filter((s) => s !== 'revoked')) {
    for (let after: ListCursor | undefined; ; ) {
      const page = await store.heldPage(state, PAGE, after);
      for (const r of page) {
        bySubscriber.set(r.subscriber_id, { id: r.id, prefix: r.prefix });
        if (r.prefix) byPrefix.set(r.prefix, { id: r.id, subscriber_id: r.subscriber_id });
        if (r.username) byUsername.set(r.username, { id: r.id, subscriber_id: r.subscriber_id });
      }
      if (page.length < PAGE) break;
      const last = page[page.length - 1]!;
      after = { created_at: last.created_at, id: last.id };
      // Without a macrotask the walk of 200,000 held was one turn of the loop (issue 10).
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
  const liveIds = new Set([...bySubscriber.values()].map((l) => l.id));
  return { liveOf: (s) => bySubscriber.get(s), liveWithPrefix: (p) => byPrefix.get(p), liveOverlapping: overlapping(byPrefix), liveWithUsername: (u) => byUsername.get(u), liveIds };
}

/**
 * The live prefix that holds `prefix` or lies inside it: a lookup per length the live prefixes have,
 * so a run over 100,000 entries stays linear. Blocks of one length inside another are indexed by
 * their network at that length, once per length asked.
 */
function overlapping(byPrefix: ReadonlyMap<string, { id: string; subscriber_id: string }>) {
  const live: { prefix: Ipv6Prefix; text: string; holder: { id: string; subscriber_id: string } }[] = [];
  for (const [text, holder] of byPrefix) {
    try {
      live.push({ prefix: parsePrefix(text), text, holder });
    } catch {
      // Not a prefix: nothing can nest with it.
    }
  }
  const byNetwork = new Map<string, (typeof live)[number]>(live.map((l) => [`${l.prefix.network}/${l.prefix.length}`, l]));
  const lengths = [...new Set(live.map((l) => l.prefix.length))];
  const inside = new Map<number, Map<bigint, (typeof live)[number]>>();
  const insideAt = (length: number) => {
    let m = inside.get(length);
    if (!m) inside.set(length, (m = new Map(live.filter((l) => l.prefix.length > length).map((l) => [networkOf(l.prefix.network, length), l]))));
    return m;
  };
  return (text: string): { id: string; subscriber_id: string; prefix: string } | undefined => {
    let p: Ipv6Prefix;
    try {
      p = parsePrefix(text);
    } catch {
      return undefined;
    }
    const around = lengths.filter((l) => l < p.length).map((l) => byNetwork.get(`${networkOf(p.network, l)}/${l}`)).find((l) => l !== undefined);
    const found = around ?? insideAt(p.length).get(p.network);
    return found && { ...found.holder, prefix: found.text };
  };
}

export type { ImportReport };
