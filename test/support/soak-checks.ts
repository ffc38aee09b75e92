// What the soak test checks: samples taken while it runs (no prefix on two live lifecycles in one
// answer of the API, none for two users in radreply, none twice in NetBox), the wait until every
// lifecycle has settled once the faults are cleared, and the invariants at the end, each problem
// one sentence naming what and whom.
import Database from 'better-sqlite3';
import { chainProblems, type ChainLink } from './audit-chain.ts';
import type { NetboxServer } from './netbox-server.ts';
import { api } from './soak-client.ts';
import { MARK_FIELDS } from '../../services/netbox/mark.ts';

export interface Lifecycle {
  subscriber_id: string;
  lifecycle_id: string;
  state: string;
  prefix: string | null;
  netbox_prefix_id: number | null;
  username: string | null;
  cpe_id: string | null;
  pending: Array<{ step: string }>;
  failure: { step: string; code: string; message: string } | null;
}
export interface ReplyRow {
  username: string;
  attribute: string;
  value: string;
}

const TAG = 'ipv6-lifecycle';
const TRANSIENT = new Set(['pending', 'revoking']);
const live = (l: Lifecycle) => l.state !== 'revoked';
const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** One page per request, each page one read of the store; null when the service did not answer. */
export async function listPages(origin: string): Promise<Lifecycle[][] | null> {
  const pages: Lifecycle[][] = [];
  let cursor: string | null = null;
  do {
    const a = await api(origin, 'GET', `lifecycle?limit=1000${cursor ? `&cursor=${cursor}` : ''}`);
    if (!a || a.status !== 200) return null;
    pages.push(a.body.items as Lifecycle[]);
    cursor = a.body.next_cursor as string | null;
  } while (cursor);
  return pages;
}

export function readRadreply(file: string): ReplyRow[] {
  const db = new Database(file, { readonly: true, fileMustExist: true });
  try {
    return db.prepare<[], ReplyRow>('SELECT username, attribute, value FROM radreply ORDER BY id').all();
  } finally {
    db.close();
  }
}

/** Keys that occur under more than one distinct holder. */
function shared(pairs: Array<[key: string, holder: string]>): Array<[string, string[]]> {
  const by = new Map<string, Set<string>>();
  for (const [k, h] of pairs) by.set(k, (by.get(k) ?? new Set()).add(h));
  return [...by].filter(([, hs]) => hs.size > 1).map(([k, hs]) => [k, [...hs]]);
}

/** Every way one prefix is on two holders in what was read at one moment (pages: one store read each). */
export function sharedPrefixes(replies: ReplyRow[], netbox: Array<{ id: number; prefix: string; tags: string[] }> | null, pages: Lifecycle[][]): string[] {
  const out: string[] = [];
  const delegated = replies.filter((r) => r.attribute === 'Delegated-IPv6-Prefix');
  for (const [p, users] of shared(delegated.map((r) => [r.value, r.username]))) out.push(`radreply delegates ${p} to ${users.join(' and ')}`);
  const ours = (netbox ?? []).filter((p) => p.tags.includes(TAG));
  for (const [p, ids] of shared(ours.map((r) => [r.prefix, String(r.id)]))) out.push(`NetBox holds ${p} ${ids.length} times (ids ${ids.join(', ')})`);
  for (const page of pages) {
    const held = page.filter((l) => live(l) && l.prefix).map((l) => [l.prefix!, `${l.subscriber_id} (${l.state})`] as [string, string]);
    for (const [p, subs] of shared(held)) out.push(`${p} is on two live lifecycles: ${subs.join(' and ')}`);
  }
  return out;
}

/** One sample: radreply and NetBox first, then the API. Null when the service did not answer. */
export async function sample(origin: string, radiusFile: string, netbox: NetboxServer | null): Promise<string[] | null> {
  const replies = readRadreply(radiusFile);
  const rows = netbox ? netbox.prefixes() : null;
  const pages = await listPages(origin);
  return pages && sharedPrefixes(replies, rows, pages);
}

export interface Settled {
  items: Lifecycle[];
  retried: number;
  /** Lifecycles that failed again after the faults were cleared (each retry's failure). */
  failedAgain: string[];
  ms: number;
}

/** With the faults cleared: retries every failed lifecycle until none fails and nothing is in flight or pending. */
export async function settle(origin: string, timeoutMs: number): Promise<Settled> {
  const started = Date.now();
  const retriedOf = new Map<string, number>();
  const failedAgain: string[] = [];
  let calm = 0;
  let last: Lifecycle[] = [];
  while (Date.now() - started < timeoutMs) {
    const pages = await listPages(origin);
    if (!pages) {
      await sleep(200);
      continue;
    }
    last = pages.flat();
    const failed = last.filter((l) => l.state === 'failed');
    const moving = last.filter((l) => TRANSIENT.has(l.state) || l.pending.length > 0);
    for (const l of failed) {
      const n = (retriedOf.get(l.lifecycle_id) ?? 0) + 1;
      retriedOf.set(l.lifecycle_id, n);
      if (n > 1) failedAgain.push(`${l.subscriber_id} failed again at ${l.failure?.step} (${l.failure?.code}: ${l.failure?.message})`);
      await api(origin, 'POST', 'retry?wait=5000', { subscriber_id: l.subscriber_id });
    }
    calm = failed.length === 0 && moving.length === 0 ? calm + 1 : 0;
    if (calm >= 3) break;
    await sleep(250);
  }
  const retried = [...retriedOf.values()].reduce((a, b) => a + b, 0);
  return { items: last, retried, failedAgain, ms: Date.now() - started };
}

/** Where IPAM stands at the end: each prefix it holds for us, and for which lifecycle. */
export interface Held {
  prefix: string;
  lifecycle_id: string;
  /** NetBox's id, or null for the embedded IPAM. */
  id: number | null;
  status: string;
}

export function netboxHeld(netbox: NetboxServer): Held[] {
  return netbox
    .prefixes()
    .filter((p) => p.tags.includes(TAG))
    .map((p) => ({ prefix: p.prefix, lifecycle_id: String(p.customFields[MARK_FIELDS.lifecycleId] ?? ''), id: p.id, status: p.status }));
}

export function embeddedHeld(database: string): Held[] {
  const db = new Database(database, { readonly: true, fileMustExist: true });
  try {
    const allocated = db.prepare<[], Held>(`SELECT prefix, lifecycle_id, NULL AS id, 'allocated' AS status FROM ipam_allocations`).all();
    const quarantined = db.prepare<[], Held>(`SELECT prefix, '' AS lifecycle_id, NULL AS id, 'quarantined' AS status FROM ipam_quarantine`).all();
    return [...allocated, ...quarantined];
  } finally {
    db.close();
  }
}

/** What is wrong at the end, by invariant. */
export interface EndProblems {
  settle: string[];
  ipam: string[];
  radreply: string[];
  cpe: string[];
}

/**
 * Settled, IPAM exactly the live prefixes, radreply exactly the active ones, one live lifecycle per
 * subscriber, and each CPE delegating exactly while its subscriber is active or suspended.
 */
export function endProblems(items: Lifecycle[], held: Held[], replies: ReplyRow[], cpe: { ids: Map<string, string>; delegates: (id: string) => boolean }): EndProblems {
  const problems: EndProblems = { settle: [], ipam: [], radreply: [], cpe: [] };
  const lives = items.filter(live);
  for (const [subscriber, id] of cpe.ids) {
    const l = lives.find((x) => x.subscriber_id === subscriber);
    const want = !!l && l.cpe_id === id && (l.state === 'active' || l.state === 'suspended');
    if (cpe.delegates(id) !== want) problems.cpe.push(`CPE ${id} has DHCPv6-PD ${want ? 'off' : 'on'}, yet ${subscriber} is ${l?.state ?? 'revoked'}`);
  }
  for (const l of lives) {
    if (l.state === 'failed') problems.settle.push(`${l.subscriber_id} is still failed at ${l.failure?.step}: ${l.failure?.message}`);
    if (TRANSIENT.has(l.state)) problems.settle.push(`${l.subscriber_id} is still ${l.state}`);
    if (l.pending.length) problems.settle.push(`${l.subscriber_id} still has pending ${l.pending.map((p) => p.step).join(', ')}`);
    if (!l.prefix) problems.settle.push(`${l.subscriber_id} is ${l.state} without a prefix`);
  }
  for (const [s, ids] of shared(lives.map((l) => [l.subscriber_id, l.lifecycle_id]))) problems.settle.push(`${s} has ${ids.length} live lifecycles`);

  for (const [p, ids] of shared(held.map((h) => [h.prefix, `${h.lifecycle_id}#${h.id ?? h.status}`]))) problems.ipam.push(`IPAM holds ${p} twice (${ids.join(', ')})`);
  const holder = new Map(lives.filter((l) => l.prefix).map((l) => [l.prefix!, l]));
  const byId = new Map(items.map((l) => [l.lifecycle_id, l]));
  for (const h of held) {
    const l = holder.get(h.prefix);
    if (!l) {
      const owner = byId.get(h.lifecycle_id);
      problems.ipam.push(`IPAM holds ${h.prefix} (${h.status}) for ${owner ? `${owner.subscriber_id}'s ${owner.state} lifecycle ${h.lifecycle_id}` : `lifecycle ${h.lifecycle_id || '?'}`}; no live lifecycle holds it`);
    } else if (h.lifecycle_id !== l.lifecycle_id) problems.ipam.push(`IPAM holds ${h.prefix} for lifecycle ${h.lifecycle_id}, but ${l.subscriber_id}'s lifecycle ${l.lifecycle_id} holds it`);
    else if (h.id !== null && h.id !== l.netbox_prefix_id) problems.ipam.push(`${l.subscriber_id} names NetBox prefix ${l.netbox_prefix_id} for ${h.prefix}, NetBox has it as ${h.id}`);
    else if (h.status !== 'active' && h.status !== 'allocated') problems.ipam.push(`IPAM holds ${h.prefix} of ${l.subscriber_id} as ${h.status}`);
  }
  const inIpam = new Set(held.map((h) => h.prefix));
  for (const l of lives) if (l.prefix && !inIpam.has(l.prefix)) problems.ipam.push(`${l.subscriber_id} (${l.state}) holds ${l.prefix}; IPAM does not`);

  const active = new Map(lives.filter((l) => l.state === 'active' && l.username).map((l) => [l.username!, l]));
  for (const [user, l] of active) {
    const delegated = replies.filter((r) => r.username === user && r.attribute === 'Delegated-IPv6-Prefix').map((r) => r.value);
    if (delegated.join() !== l.prefix) problems.radreply.push(`${l.subscriber_id} is active with ${l.prefix}; radreply delegates [${delegated.join(', ')}] to ${user}`);
  }
  for (const [user, n] of countBy(replies.filter((r) => !active.has(r.username)).map((r) => r.username))) {
    const l = lives.find((x) => x.username === user);
    problems.radreply.push(`radreply has ${n} row(s) for ${user}, whose lifecycle is ${l?.state ?? 'revoked'}`);
  }
  return problems;
}

function countBy(keys: string[]): Map<string, number> {
  const m = new Map<string, number>();
  for (const k of keys) m.set(k, (m.get(k) ?? 0) + 1);
  return m;
}

export interface ApiEvent {
  at: string;
  lifecycle_id: string;
  type: string;
  from: string | null;
  to: string;
  detail: { state?: unknown; from_state?: unknown; step?: unknown } | null;
}

/** A machine state path (`active.updateRollback.cpe`), as opposed to a public step name (`cpe_configure_pd`). */

/** Every way a subscriber's trail (through the API) is not one chain per lifecycle, lifecycles one after the other. */
export function trailProblems(subscriber: string, events: ApiEvent[], items: Lifecycle[]): string[] {
  const problems: string[] = [];
  // A revoked lifecycle may still finish queued CPE work (PENDING_*) after the next one began; nothing else may interleave.
  const order: string[] = [];
  for (const e of events) {
    if (order.at(-1) === e.lifecycle_id) continue;
    const lateCpeWork = e.from === 'revoked' && e.to === 'revoked' && e.type.startsWith('PENDING_');
    if (!order.includes(e.lifecycle_id)) order.push(e.lifecycle_id);
    else if (!lateCpeWork) problems.push(`${subscriber}'s trail goes back to lifecycle ${e.lifecycle_id} (${e.type} ${e.from} → ${e.to} at ${e.at}) after another began`);
  }
  for (let i = 1; i < events.length; i++) if (events[i]!.at < events[i - 1]!.at) problems.push(`${subscriber}'s trail is out of order at #${i} (${events[i]!.at} after ${events[i - 1]!.at})`);
  const seen = new Set<string>();
  for (const e of events) {
    const id = JSON.stringify(e);
    if (seen.has(id)) problems.push(`${subscriber}'s trail has ${e.type} at ${e.at} twice`);
    seen.add(id);
  }
  for (const id of new Set(order)) {
    const l = items.find((x) => x.lifecycle_id === id);
    if (!l) {
      problems.push(`${subscriber}'s trail names lifecycle ${id}, which the list does not have`);
      continue;
    }
    const links: ChainLink[] = events
      .filter((e) => e.lifecycle_id === id)
      .map((e, i) => {
        const link: ChainLink = { type: e.type, from: e.from, to: e.to, label: `#${i} at ${e.at}` };
        // The trail records the full state paths: `detail.from_state` left, `detail.state` reached.
        const { from_state: fromState, state } = e.detail ?? {};
        if (typeof state === 'string') link.toPath = state;
        link.fromPath = typeof fromState === 'string' ? fromState : null;
        return link;
      });
    problems.push(...chainProblems(`${subscriber} (${id})`, links, l.state));
  }
  return problems;
}
