import { setImmediate as nextTurn } from 'node:timers/promises';
import pLimit from 'p-limit';
import type { PoolSpec } from '../../runtime/operation-types.ts';
import type { HolderKey, LifecycleHolder } from '../../store/lifecycles.ts';
import type { LifecyclePort } from '../../store/port.ts';
import { ServiceError } from '../errors.ts';
import type { IpamPort, NestedBlock } from '../ipam/port.ts';
import { retiredMessage } from '../netbox/adopt.ts';
import { contains, networkOf, parsePrefix, type Ipv6Prefix } from '../ipv6.ts';
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

  const subscriberFromUsername = req.options?.subscriber_from_username === true;
  // A NetBox pool's blocks nesting with a record's are its marks: the listing, read for the first such record.
  const netboxListing = async () => (deps.netbox ? (listing ??= await deps.netbox.fieldPrefixes(signal)) : []);
  const known = await knownFor(observations, { store: deps.store, ipam: deps.ipam, pools: deps.pools, listing: netboxListing, subscriberFromUsername }, signal);
  const entries = await planInTurns({
    observations,
    pools: deps.pools,
    known,
    storedIds: await storedMarks(observations, deps.store),
    radiusRead: Boolean(sources.radius),
    subscriberFromUsername,
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
    if (i > 0) await nextTurn();
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

/** Values one store lookup or one turn of IPAM seeks takes (~1–10 ms on SQLite), a turn of the event loop between. */
export const KNOWN_BATCH = 500;

/** The lifecycles with these values in `by`, KNOWN_BATCH to a statement, a turn between. */
async function holdersIn(store: Pick<LifecyclePort, 'holdersOf'>, by: HolderKey, values: Iterable<string>): Promise<LifecycleHolder[]> {
  const all = [...values];
  let out: LifecycleHolder[] = [];
  for (let i = 0; i < all.length; i += KNOWN_BATCH) {
    await nextTurn();
    out = out.concat(await store.holdersOf(by, all.slice(i, i + KNOWN_BATCH)));
  }
  return out;
}

/**
 * Of the lifecycle ids our NetBox marks name, those the store has, in any state. A revoked one the
 * retention took out of the live table is still had: its audit trail stays and says revoked.
 */
async function storedMarks(observations: readonly Observation[], store: Pick<LifecyclePort, 'holdersOf' | 'events'>): Promise<Set<string>> {
  const subscriberOf = new Map(observations.filter((o) => o.markedFor !== null).map((o) => [o.markedFor!, o.mark?.subscriberId ?? null]));
  const stored = new Set((await holdersIn(store, 'id', subscriberOf.keys())).map((h) => h.id));
  for (const [id, subscriber] of subscriberOf) {
    if (stored.has(id) || subscriber === null) continue;
    if ((await store.events(subscriber)).some((e) => e.lifecycle_id === id)) stored.add(id);
  }
  return stored;
}

export interface KnownDeps {
  store: Pick<LifecyclePort, 'holdersOf'>;
  ipam: Pick<IpamPort, 'nestedHeld'>;
  pools: readonly PoolSpec[];
  /** NetBox's prefixes under the pools it serves (read once, when first asked): its marks are the blocks nesting in those pools. */
  listing: () => Promise<readonly NetboxFieldPrefix[]>;
  /** A username may name its subscriber (options.subscriber_from_username). */
  subscriberFromUsername: boolean;
}

/**
 * What the plan asks of the live lifecycles, looked up for what the observations name: their
 * subscribers, prefixes and usernames on the store's indexes, KNOWN_BATCH a statement; the block
 * around or inside each prefix from IPAM (NetBox's from its listing). Bounded by the import, not the
 * store: a walk of every live lifecycle made an import of 100 records into 1,000,000 held take
 * 10.6 s, 960 MB of RSS and a 402 ms stall of the event loop (issue 10).
 */
export async function knownFor(observations: readonly Observation[], deps: KnownDeps, signal?: AbortSignal): Promise<KnownLifecycles> {
  const subscribers = new Set<string>();
  const prefixes = new Set<string>();
  const usernames = new Set<string>();
  for (const o of observations) {
    prefixes.add(o.prefix);
    if (o.subscriberId !== null) subscribers.add(o.subscriberId);
    if (o.username !== null) {
      usernames.add(o.username);
      if (deps.subscriberFromUsername) subscribers.add(o.username);
    }
  }
  // As the walk's maps did: a subscriber has one live lifecycle; of a prefix or a username shown by
  // several (never normally), the last read.
  const bySubscriber = new Map((await holdersIn(deps.store, 'subscriber_id', subscribers)).map((h) => [h.subscriber_id, { id: h.id, prefix: h.prefix }]));
  const byPrefix = new Map((await holdersIn(deps.store, 'prefix', prefixes)).map((h) => [h.prefix!, { id: h.id, subscriber_id: h.subscriber_id }]));
  const byUsername = new Map((await holdersIn(deps.store, 'username', usernames)).map((h) => [h.username!, { id: h.id, subscriber_id: h.subscriber_id }]));

  const nested = new Map<string, NestedBlock[]>();
  const pools = deps.pools.map((p) => ({ spec: p, parent: parsePrefix(p.prefix) }));
  let netboxMarks: Awaited<ReturnType<typeof overlapIndex>> | undefined;
  let asked = 0;
  for (const text of prefixes) {
    let block: Ipv6Prefix;
    try {
      block = parsePrefix(text);
    } catch {
      continue; // Not a prefix: the plan names it, nothing nests with it.
    }
    const pool = pools.find((p) => contains(p.parent, block));
    if (!pool) continue;
    if (++asked % KNOWN_BATCH === 0) await nextTurn();
    if (pool.spec.ipam === 'netbox') {
      netboxMarks ??= await overlapIndex((await deps.listing()).filter((p) => p.lifecycleId !== null));
      const mark = await netboxMarks.lookup(block);
      if (mark) nested.set(text, [{ prefix: mark.prefix, lifecycleId: mark.lifecycleId! }]);
    } else {
      const held = (await deps.ipam.nestedHeld?.(pool.spec.name, text, signal)) ?? [];
      if (held.length > 0) nested.set(text, held);
    }
  }
  const nestedLive = new Map(
    (await holdersIn(deps.store, 'id', new Set([...nested.values()].flatMap((n) => n.map((b) => b.lifecycleId))))).filter((h) => h.state !== 'revoked').map((h) => [h.id, h]),
  );
  return {
    liveOf: (s) => bySubscriber.get(s),
    liveWithPrefix: (p) => byPrefix.get(p),
    liveOverlapping: (p) => {
      const n = nested.get(p)?.find((b) => nestedLive.has(b.lifecycleId));
      const holder = n && nestedLive.get(n.lifecycleId)!;
      return holder && { id: holder.id, subscriber_id: holder.subscriber_id, prefix: n.prefix };
    },
    liveWithUsername: (u) => byUsername.get(u),
  };
}

/** Listed prefixes indexed per turn of the event loop: NetBox's listing at an ISP is a million. */
const INDEX_SLICE = 5000;

/**
 * The NetBox prefix that holds a block or lies inside it, not exactly it: a lookup per length the
 * prefixes have, so a run over 100,000 entries stays linear. Prefixes of one length inside another
 * are indexed by their network at that length, once per length asked. Built INDEX_SLICE a turn.
 */
async function overlapIndex(listed: readonly NetboxFieldPrefix[]) {
  const byNetwork = new Map<string, { block: Ipv6Prefix; listed: NetboxFieldPrefix }>();
  const lengths = new Set<number>();
  for (let i = 0; i < listed.length; i++) {
    if (i > 0 && i % INDEX_SLICE === 0) await nextTurn();
    const p = listed[i]!;
    let block: Ipv6Prefix;
    try {
      block = parsePrefix(p.prefix);
    } catch {
      continue; // Not a prefix: nothing can nest with it.
    }
    byNetwork.set(`${block.network}/${block.length}`, { block, listed: p });
    lengths.add(block.length);
  }
  const inside = new Map<number, Map<bigint, NetboxFieldPrefix>>();
  const insideAt = async (length: number) => {
    let m = inside.get(length);
    if (m) return m;
    inside.set(length, (m = new Map()));
    let done = 0;
    for (const l of byNetwork.values()) {
      if (++done % INDEX_SLICE === 0) await nextTurn();
      if (l.block.length > length) m.set(networkOf(l.block.network, length), l.listed);
    }
    return m;
  };
  const lookup = async (p: Ipv6Prefix): Promise<NetboxFieldPrefix | undefined> => {
    const around = [...lengths].filter((l) => l < p.length).map((l) => byNetwork.get(`${networkOf(p.network, l)}/${l}`)?.listed).find((l) => l !== undefined);
    return around ?? (await insideAt(p.length)).get(p.network);
  };
  return { lookup };
}

export type { ImportReport };
