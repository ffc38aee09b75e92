import pLimit from 'p-limit';
import type { PoolSpec } from '../../runtime/operation-types.ts';
import { LIFECYCLE_STATES } from '../../machines/types.ts';
import type { ListCursor } from '../../store/lifecycles.ts';
import type { LifecyclePort } from '../../store/port.ts';
import { ServiceError } from '../errors.ts';
import type { IpamPort } from '../ipam/port.ts';
import { retiredMessage } from '../netbox/adopt.ts';
import { networkOf, parsePrefix, type Ipv6Prefix } from '../ipv6.ts';
import { adoptCommand, applyPlan, type ApplyDeps } from './apply.ts';
import { planInTurns, summarize, type KnownLifecycles } from './plan.ts';
import { checkRule, fromFileInTurns, fromNetbox, fromRadius, type Observation } from './sources.ts';
import type { Conflict, ImportOptions, ImportReport, ImportSources, NetboxFieldPrefix, PlanEntry, RadiusFieldSource } from './types.ts';

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
  if (sources.file) observations = observations.concat(await fromFileInTurns(sources.file.records));

  const known = await knownLifecycles(deps.store);
  const entries = await planInTurns({
    observations,
    pools: deps.pools,
    known,
    storedIds: await storedMarks(observations, known, deps.store),
    radiusRead: Boolean(sources.radius),
    subscriberFromUsername: req.options?.subscriber_from_username === true,
  });
  // NetBox's adopt() refuses a prefix under another lifecycle's mark, one in its hold-down too (which
  // the netbox source leaves out), and would revive a legacy deprecated one: its listing says which,
  // read for a file line if not read already.
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
 * IPAM is asked per entry; NetBox's refusals are its marks, in the listing. A legacy NetBox prefix in
 * status deprecated adopt() would take and set active: a retired subscriber's, `netbox_deprecated`.
 */
async function heldInIpam(entries: PlanEntry[], ipam: IpamPort, listing: readonly NetboxFieldPrefix[], signal?: AbortSignal): Promise<void> {
  const marked = new Map(listing.filter((p) => p.lifecycleId !== null).map((p) => [p.prefix, p]));
  // adopt() would set a legacy prefix active: one NetBox has deprecated (retired) is the operator's call.
  const retired = new Map(listing.filter((p) => p.lifecycleId === null && p.status === 'deprecated').map((p) => [p.prefix, p]));
  const netboxRefusal = (e: PlanEntry): Conflict | null => {
    const old = retired.get(e.prefix);
    if (old) return { kind: 'netbox_deprecated', message: retiredMessage(e.prefix, old.netboxPrefixId) };
    const p = marked.get(e.prefix);
    if (!p || p.lifecycleId === e.lifecycle_id) return null;
    return { kind: 'ipam_held', message: `${e.prefix} (NetBox id ${p.netboxPrefixId}) is marked for lifecycle ${p.lifecycleId}${p.status === 'deprecated' ? ', in its hold-down' : ''}` };
  };
  const embeddedRefusal = async (e: PlanEntry): Promise<Conflict | null> => {
    const message = (await ipam.adoptionRefusal?.(adoptCommand(e), signal)) ?? null;
    return message === null ? null : { kind: 'ipam_held', message };
  };
  // Named on an entry in conflict already too (unnamed, no RADIUS row): fixing those would only meet it next.
  for (const e of entries) {
    const old = e.action === 'conflict' && e.ipam === 'netbox' ? retired.get(e.prefix) : undefined;
    if (old) e.conflicts.push({ kind: 'netbox_deprecated', message: retiredMessage(e.prefix, old.netboxPrefixId) });
  }
  const limit = pLimit(8);
  const todo = entries.filter((e) => e.action === 'adopt');
  // The embedded IPAM answers at once: 50,000 asked in one go were one turn of the loop (issue 10).
  for (let i = 0; i < todo.length; i += REFUSAL_SLICE) {
    if (i > 0) await new Promise((resolve) => setImmediate(resolve));
    await Promise.all(
      todo.slice(i, i + REFUSAL_SLICE).map((e) =>
        limit(async () => {
          const refused = e.ipam === 'netbox' ? netboxRefusal(e) : await embeddedRefusal(e);
          if (refused === null) return;
          e.conflicts.push(refused);
          e.action = 'conflict';
        }),
      ),
    );
  }
}

/** Entries the IPAM is asked about per turn of the event loop (a SQLite lookup each, ~20 µs). */
export const REFUSAL_SLICE = 500;

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

/** Live rows read per turn of the event loop (~10 ms): the SQLite store answers a page at once. */
export const KNOWN_PAGE = 1000;

/**
 * The live lifecycles, by subscriber, by prefix and by username: each live state's lifecycles page by page, without
 * their snapshots (the leak check's walk). Held for the run: the plan looks every entry up.
 */
export async function knownLifecycles(store: Pick<LifecyclePort, 'heldPage'>): Promise<KnownLifecycles> {
  const bySubscriber = new Map<string, { id: string; prefix: string | null }>();
  const byPrefix = new Map<string, { id: string; subscriber_id: string }>();
  const byUsername = new Map<string, { id: string; subscriber_id: string }>();
  const PAGE = KNOWN_PAGE;
  // Parsed a page at a time, in the page's turn: 200,000 at once after the walk were one ~1 s turn (issue 10).
  const nesting = overlapIndex();
  // Built in the walk: the Set of 200,000 made after it was one more turn of the loop (issue 10).
  const liveIds = new Set<string>();
  for (const state of LIFECYCLE_STATES.filter((s) => s !== 'revoked')) {
    for (let after: ListCursor | undefined; ; ) {
      const page = await store.heldPage(state, PAGE, after);
      for (const r of page) {
        // As the map, only a subscriber's last row counts.
        const before = bySubscriber.get(r.subscriber_id);
        if (before) liveIds.delete(before.id);
        liveIds.add(r.id);
        bySubscriber.set(r.subscriber_id, { id: r.id, prefix: r.prefix });
        if (r.prefix) {
          const held = { id: r.id, subscriber_id: r.subscriber_id };
          byPrefix.set(r.prefix, held);
          nesting.add(r.prefix, held);
        }
        if (r.username) byUsername.set(r.username, { id: r.id, subscriber_id: r.subscriber_id });
      }
      if (page.length < PAGE) break;
      const last = page[page.length - 1]!;
      after = { created_at: last.created_at, id: last.id };
      // Without a macrotask the walk of 200,000 held was one turn of the loop (issue 10).
      await new Promise((resolve) => setImmediate(resolve));
    }
  }
  return { liveOf: (s) => bySubscriber.get(s), liveWithPrefix: (p) => byPrefix.get(p), liveOverlapping: nesting.lookup, liveWithUsername: (u) => byUsername.get(u), liveIds };
}

/**
 * The live prefix that holds `prefix` or lies inside it: a lookup per length the live prefixes have,
 * so a run over 100,000 entries stays linear. Blocks of one length inside another are indexed by
 * their network at that length, once per length asked.
 */
function overlapIndex() {
  const live: { prefix: Ipv6Prefix; text: string; holder: { id: string; subscriber_id: string } }[] = [];
  const byNetwork = new Map<string, (typeof live)[number]>();
  const lengths = new Set<number>();
  const add = (text: string, holder: { id: string; subscriber_id: string }) => {
    let l: (typeof live)[number];
    try {
      l = { prefix: parsePrefix(text), text, holder };
    } catch {
      return; // Not a prefix: nothing can nest with it.
    }
    live.push(l);
    byNetwork.set(`${l.prefix.network}/${l.prefix.length}`, l);
    lengths.add(l.prefix.length);
  };
  const inside = new Map<number, Map<bigint, (typeof live)[number]>>();
  const insideAt = (length: number) => {
    let m = inside.get(length);
    if (!m) inside.set(length, (m = new Map(live.filter((l) => l.prefix.length > length).map((l) => [networkOf(l.prefix.network, length), l]))));
    return m;
  };
  const lookup = (text: string): { id: string; subscriber_id: string; prefix: string } | undefined => {
    let p: Ipv6Prefix;
    try {
      p = parsePrefix(text);
    } catch {
      return undefined;
    }
    const around = [...lengths].filter((l) => l < p.length).map((l) => byNetwork.get(`${networkOf(p.network, l)}/${l}`)).find((l) => l !== undefined);
    const found = around ?? insideAt(p.length).get(p.network);
    return found && { ...found.holder, prefix: found.text };
  };
  return { add, lookup };
}

export type { ImportReport };
