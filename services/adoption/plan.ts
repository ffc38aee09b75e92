import { setImmediate as nextTurn } from 'node:timers/promises';
import { v5 as uuidv5, validate as isUuid } from 'uuid';
import { stepKey } from '../../machines/steps.ts';
import { markedUnder } from '../ipam/marked.ts';
import type { ImportedState } from '../../machines/types.ts';
import { contains, parsePrefix, type Ipv6Prefix } from '../ipv6.ts';
import { cpeIdName, nameProblem, newSubscriberIdName, usernameName, wellFormed } from '../names.ts';
import type { PoolSpec } from '../../runtime/operation-types.ts';
import type { Observation } from './sources.ts';
import type { Conflict, ConflictKind, ImportReport, PlanEntry } from './types.ts';

// The join: every source's observations of one prefix become one entry, every entry of one
// subscriber is checked against the others and against the lifecycles the service has. Pure: the
// same field gives the same plan, which is what makes a rerun after a kill finish exactly.

/** What the plan needs to know of the lifecycles the service already has. */
export interface KnownLifecycles {
  /** The subscriber's live lifecycle (any state but revoked). */
  liveOf(subscriberId: string): { id: string; prefix: string | null } | undefined;
  /** The live lifecycle whose current prefix this is. */
  liveWithPrefix(prefix: string): { id: string; subscriber_id: string } | undefined;
  /** A live lifecycle whose prefix nests with this one (holds it, or lies inside it) without being it. */
  liveOverlapping?(prefix: string): { id: string; subscriber_id: string; prefix: string } | undefined;
  /** The live lifecycle that carries this RADIUS username (one at most: runtime/usernames.ts). */
  liveWithUsername(username: string): { id: string; subscriber_id: string } | undefined;
  /** The ids of the live lifecycles (the walk has them; the importer asks the store only for the others). */
  liveIds?: ReadonlySet<string>;
}

export interface PlanInput {
  observations: Observation[];
  pools: readonly PoolSpec[];
  known: KnownLifecycles;
  /** The RADIUS source was read: a NetBox prefix without a RADIUS row is then a finding. */
  radiusRead: boolean;
  subscriberFromUsername: boolean;
  /** Of the lifecycle ids our NetBox marks name, those the store has (in any state, revoked too). */
  storedIds?: ReadonlySet<string>;
}

/** Fixed: lifecycle ids of adopted prefixes are uuid v5 of subscriber and prefix under it, in every run. */
const NAMESPACE = '8f7c2b1e-5d0a-4c3b-9a6e-1f2d3c4b5a69';

export const adoptedLifecycleId = (subscriberId: string, prefix: string) => uuidv5(`${subscriberId}\n${prefix}`, NAMESPACE);

/** The map's list at `key`, made empty on first use (a copy per entry would be quadratic in a key's entries). */
function listAt<T>(map: Map<string, T[]>, key: string): T[] {
  let list = map.get(key);
  if (!list) map.set(key, (list = []));
  return list;
}

const distinct = <T>(xs: Array<T | null>): T[] => [...new Set(xs.filter((x): x is T => x !== null))].sort();

/** Entries (or subscribers, or usernames) the plan works through between turns of the event loop. */
export const PLAN_SLICE = 1000;

/** The plan in one piece: for a small field, and the tests. */
export function plan(input: PlanInput): PlanEntry[] {
  const steps = planSteps(input);
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
  }
}

/** The same plan, giving the event loop a turn after each PLAN_SLICE (issue 10: 50,000 records were one ~1 s turn). */
export async function planInTurns(input: PlanInput): Promise<PlanEntry[]> {
  const steps = planSteps(input);
  for (;;) {
    const r = steps.next();
    if (r.done) return r.value;
    await nextTurn();
  }
}

function* planSteps(input: PlanInput): Generator<void, PlanEntry[], undefined> {
  const pools = input.pools.map((p) => ({ spec: p, parent: parsePrefix(p.prefix) }));
  // Items done since the last turn: every pass below counts into it, the two maps' fill too (50,000
  // observations into both in one go were one turn of the loop).
  let done = 0;
  const byPrefix = new Map<string, Observation[]>();
  // The file is also the mapping from RADIUS usernames to subscriber ids.
  const subscriberOfUser = new Map<string, string>();
  for (const o of input.observations) {
    if (++done % PLAN_SLICE === 0) yield;
    listAt(byPrefix, o.prefix).push(o);
    if (o.source === 'file' && o.username && o.subscriberId) subscriberOfUser.set(o.username, o.subscriberId);
  }

  const entries: PlanEntry[] = [];
  for (const [prefix, obs] of byPrefix) {
    entries.push(entryOf(prefix, obs, pools, subscriberOfUser, input));
    if (++done % PLAN_SLICE === 0) yield;
  }
  entries.sort((a, b) => (a.prefix < b.prefix ? -1 : a.prefix > b.prefix ? 1 : (a.subscriber_id ?? '').localeCompare(b.subscriber_id ?? '')));

  // Per subscriber: one prefix, and none other than a live lifecycle's.
  const bySubscriber = new Map<string, PlanEntry[]>();
  for (const e of entries) if (e.subscriber_id !== null) listAt(bySubscriber, e.subscriber_id).push(e);
  for (const [subscriber, list] of bySubscriber) {
    if (++done % PLAN_SLICE === 0) yield;
    const fresh = list.filter((e) => e.action !== 'adopted');
    if (fresh.length > 1) for (const e of fresh) add(e, 'two_prefixes', `subscriber ${subscriber} carries ${fresh.map((x) => x.prefix).join(', ')}`);
    const live = input.known.liveOf(subscriber);
    for (const e of list) {
      if (!live || e.action === 'adopted') continue;
      if (live.prefix === e.prefix) e.action = 'adopted';
      else add(e, 'live_lifecycle', `subscriber ${subscriber} has live lifecycle ${live.id} with ${live.prefix ?? 'no prefix yet'}`);
    }
  }
  yield* usernamesOnce(entries, input.known);
  for (const e of entries) {
    if (++done % PLAN_SLICE === 0) yield;
    if (e.conflicts.length > 0) e.action = 'conflict';
    if (e.action === 'adopted' && e.lifecycle_id !== null) {
      // The lifecycle that owns it, adopted or allocated by the service: not ours to recompute.
      e.lifecycle_id = input.known.liveWithPrefix(e.prefix)?.id ?? e.lifecycle_id;
    }
  }
  return entries;
}

/** One RADIUS username, one live lifecycle: as activation keeps it (runtime/usernames.ts). */
function* usernamesOnce(entries: PlanEntry[], known: KnownLifecycles): Generator<void, void, undefined> {
  const byUsername = new Map<string, PlanEntry[]>();
  for (const e of entries) if (e.username !== null && e.subscriber_id !== null) listAt(byUsername, e.username).push(e);
  let done = 0;
  for (const [username, list] of byUsername) {
    if (++done % PLAN_SLICE === 0) yield;
    const subscribers = distinct(list.map((e) => e.subscriber_id));
    const holder = known.liveWithUsername(username);
    for (const e of list) {
      if (e.action === 'adopted') continue;
      if (subscribers.length > 1) add(e, 'username_in_use', `username ${username} is carried by subscribers ${subscribers.join(', ')}`);
      if (holder && holder.subscriber_id !== e.subscriber_id) add(e, 'username_in_use', `username ${username} is lifecycle ${holder.id}'s, of subscriber ${holder.subscriber_id}`);
    }
  }
}

function add(e: PlanEntry, kind: ConflictKind, message: string): void {
  if (!e.conflicts.some((c) => c.kind === kind)) e.conflicts.push({ kind, message });
}

function entryOf(
  prefix: string,
  obs: Observation[],
  pools: Array<{ spec: PoolSpec; parent: Ipv6Prefix }>,
  subscriberOfUser: Map<string, string>,
  input: PlanInput,
): PlanEntry {
  const conflicts: Conflict[] = [];
  const c = (kind: ConflictKind, message: string) => conflicts.push({ kind, message });
  const sources = distinct(obs.map((o) => o.source));
  const usernames = distinct(obs.map((o) => o.username));
  const named = distinct(obs.map((o) => o.subscriberId));
  const mapped = distinct(usernames.map((u) => subscriberOfUser.get(u) ?? null));
  const subscribers = named.length > 0 ? named : mapped;
  const netbox = obs.find((o) => o.source === 'netbox');
  const served = obs.some((o) => o.source === 'radreply' || o.source === 'radacct');

  if (usernames.length > 1) c('shared_prefix', `${prefix} is carried by users ${usernames.join(', ')}`);
  if (subscribers.length > 1) c('shared_prefix', `${prefix} is named for subscribers ${subscribers.join(', ')}`);

  let block: Ipv6Prefix | null = null;
  try {
    block = parsePrefix(prefix);
  } catch (err) {
    // parsePrefix says why (malformed, or host bits set past the length, with the network meant)
    // and quotes the text: said before it too, the prefix was named two or three times.
    c('outside_pools', (err as Error).message);
  }
  const pool = block ? pools.find((p) => contains(p.parent, block!)) : undefined;
  if (block && !pool) c('outside_pools', `${prefix} is inside no configured pool`);
  if (block && pool && block.length !== pool.spec.prefix_length) {
    c('wrong_length', `${prefix} is a /${block.length}; pool ${pool.spec.name} delegates /${pool.spec.prefix_length}`);
  }

  let subscriber: string | null = subscribers.length === 1 ? subscribers[0]! : null;
  if (subscriber === null && subscribers.length === 0 && usernames.length === 1 && input.subscriberFromUsername) subscriber = usernames[0]!;
  if (subscriber === null && conflicts.length === 0) c('unnamed', `nothing names the subscriber of ${prefix}`);

  const username = usernames.length === 1 ? usernames[0]! : null;
  const cpes = distinct(obs.map((o) => o.cpeId));
  const cpeId = cpes.length === 1 ? cpes[0]! : null;
  // What the API would refuse to store: a name no request could reach or send on.
  const problems = ([['subscriber_id', newSubscriberIdName, subscriber], ['username', usernameName, username], ['cpe_id', cpeIdName, cpeId]] as const).map(
    ([field, schema, value]) => [field, value, value === null ? null : nameProblem(schema, value)] as const,
  );
  for (const [field, value, problem] of problems) if (problem !== null) c('invalid_name', `${field} ${JSON.stringify(value)} ${problem}`);
  // No id is derived from a name that is not one, nor from a file's prefix that is not text (a lone
  // surrogate has no UTF-8 for uuid v5 to hash: it threw, and the import answered 500).
  const idable = subscriber !== null && wellFormed(prefix) && problems.every(([field, , problem]) => field !== 'subscriber_id' || problem === null);

  const stated = distinct(obs.map((o) => o.state ?? null));
  let state: ImportedState | null = stated.length === 1 ? stated[0]! : served ? 'active' : username ? 'suspended' : 'allocated';
  if (stated.length > 1) c('shared_prefix', `${prefix} is stated ${stated.join(' and ')}`);
  if (stated.length === 0 && !served && netbox && input.radiusRead) {
    c('no_radius_row', `NetBox holds ${prefix} (id ${netbox.netboxPrefixId}) and RADIUS has no row for it: state it in the file (active, suspended or allocated) or release it`);
    state = null;
  }

  // A prefix under our mark is taken over under that mark's lifecycle, or not at all: IPAM refuses any other key.
  const underMark = markedLifecycle(prefix, netbox, subscriber, input.storedIds ?? new Set());
  if (typeof underMark === 'object' && underMark !== null) c('marked_lifecycle', underMark.conflict);
  const holder = input.known.liveWithPrefix(prefix);
  let action: PlanEntry['action'] = 'adopt';
  if (holder && subscriber !== null && holder.subscriber_id === subscriber) {
    action = 'adopted';
    conflicts.length = 0;
  } else if (holder) {
    c('live_lifecycle', `${prefix} is lifecycle ${holder.id}'s, of subscriber ${holder.subscriber_id}`);
  } else {
    // Another subscriber's block around it or inside it: NetBox would create the nested prefix, the
    // embedded IPAM refuses it only at the apply, after a dry run said `adopt`.
    const nested = input.known.liveOverlapping?.(prefix);
    if (nested && nested.subscriber_id !== subscriber) c('live_lifecycle', `${prefix} overlaps ${nested.prefix}, lifecycle ${nested.id}'s, of subscriber ${nested.subscriber_id}`);
  }
  return {
    subscriber_id: subscriber,
    prefix,
    pool: pool?.spec.name ?? null,
    ipam: pool?.spec.ipam ?? null,
    username,
    cpe_id: cpeId,
    state,
    sources,
    netbox_prefix_id: netbox?.netboxPrefixId ?? null,
    lifecycle_id: typeof underMark === 'string' ? underMark : idable ? adoptedLifecycleId(subscriber!, prefix) : null,
    action,
    conflicts,
  };
}

/**
 * The lifecycle our mark names, when the entry is adopted under it: a lifecycle this store does not
 * have (a database restored from a backup older than IPAM forgot it), of the entry's subscriber, the
 * prefix under its first allocation's key, the key adoption uses. Its keys then agree with IPAM's mark,
 * and the leak check finds the prefix held. A mark of a lifecycle the store has, of another
 * subscriber, or of a later allocation is a conflict. Null without a mark.
 */
function markedLifecycle(prefix: string, netbox: Observation | undefined, subscriber: string | null, stored: ReadonlySet<string>): string | { conflict: string } | null {
  const id = netbox?.markedFor ?? null;
  if (id === null) return null;
  const conflict = (why: string) => ({ conflict: `${prefix} is marked for lifecycle ${id}, ${why}` });
  if (stored.has(id)) return conflict('which this store has: only that lifecycle holds it');
  const mark = netbox!.mark;
  if (!mark || !isUuid(id)) return conflict('which is no lifecycle id of this service');
  if (mark.subscriberId !== subscriber) return conflict(`of subscriber ${mark.subscriberId ?? '(none)'}, not ${subscriber ?? '(none)'}`);
  if (!markedUnder({ key: mark.key, keyIsDigest: mark.digest }, stepKey(id, 'allocate', 0))) return conflict('under the key of a later allocation than its first');
  return id;
}

export function summarize(entries: readonly PlanEntry[]): ImportReport['summary'] {
  const byKind: Partial<Record<ConflictKind, number>> = {};
  for (const e of entries) for (const k of e.conflicts) byKind[k.kind] = (byKind[k.kind] ?? 0) + 1;
  const count = (a: PlanEntry['action']) => entries.filter((e) => e.action === a).length;
  return { entries: entries.length, adopt: count('adopt'), adopted: count('adopted'), conflict: count('conflict'), conflicts_by_kind: byKind };
}
