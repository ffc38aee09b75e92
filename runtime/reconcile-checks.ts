// The comparisons of the reconciliation, pure: what the lifecycles say against what IPAM, radreply,
// radacct and the CPEs hold. A lifecycle with a step in flight (or between states) is in motion:
// nothing of it is judged until it settles, so a run never races the machine.
import type { HeldPrefix } from '../services/field/ipam.ts';
import type { FieldReply, FieldSession } from '../services/field/radius.ts';
import type { CpeObservation } from '../services/field/cpe.ts';
import { contains, formatPrefix, parsePrefix, type Ipv6Prefix } from '../services/ipv6.ts';
import type { LifecycleRow } from '../store/lifecycles.ts';

/** The kinds of difference, in the order a run reports them (docs/adoption.md, "Reconciliation"). */
export const DISCREPANCY_KINDS = [
  'ipam_orphan',
  'ipam_missing',
  'radreply_missing',
  'radreply_stale',
  'session_foreign_prefix',
  'cpe_still_delegating',
  'cpe_not_delegating',
] as const;
export type DiscrepancyKind = (typeof DISCREPANCY_KINDS)[number];

/** One difference found, before the policy decides whether to repair it. */
export interface Found {
  kind: DiscrepancyKind;
  lifecycle: LifecycleView | null;
  username: string | null;
  prefix: string | null;
  cpeId: string | null;
  detail: Record<string, unknown>;
  /** True when the repair is unambiguous; false: it is only ever reported, whatever the policy. */
  repairable: boolean;
  /** For ipam_orphan: the prefix as IPAM holds it. */
  held?: HeldPrefix;
}

export type LifecycleView = Pick<LifecycleRow, 'id' | 'subscriber_id' | 'state' | 'pool' | 'prefix' | 'username' | 'cpe_id' | 'created_at' | 'updated_at'> & {
  settled: boolean;
  pending: boolean;
};

const SETTLED = new Set(['allocated', 'active', 'suspended', 'revoked']);

export function viewOf(r: LifecycleRow): LifecycleView {
  const { id, subscriber_id, state, pool, prefix, username, cpe_id, created_at, updated_at } = r;
  return { id, subscriber_id, state, pool, prefix, username, cpe_id, created_at, updated_at, settled: r.busy === 0 && SETTLED.has(state), pending: r.next_pending_at !== null };
}

/** The lifecycles, indexed for the comparisons. */
export interface LifecycleIndex {
  live: Map<string, LifecycleView>;
  liveByUser: Map<string, LifecycleView>;
  liveByPrefix: Map<string, LifecycleView>;
  liveByCpe: Map<string, LifecycleView>;
  /** The newest revoked lifecycle of each username, and of each CPE. */
  revokedByUser: Map<string, LifecycleView>;
  revokedByCpe: Map<string, LifecycleView>;
}

export function emptyIndex(): LifecycleIndex {
  return { live: new Map(), liveByUser: new Map(), liveByPrefix: new Map(), liveByCpe: new Map(), revokedByUser: new Map(), revokedByCpe: new Map() };
}

/** Adds one lifecycle (rows come oldest first, so a newer one replaces an older one). */
export function indexLifecycle(ix: LifecycleIndex, v: LifecycleView): void {
  if (v.state === 'revoked') {
    if (v.username) ix.revokedByUser.set(v.username, v);
    if (v.cpe_id) ix.revokedByCpe.set(v.cpe_id, v);
    return;
  }
  ix.live.set(v.id, v);
  if (v.username) ix.liveByUser.set(v.username, v);
  if (v.prefix) ix.liveByPrefix.set(v.prefix, v);
  if (v.cpe_id) ix.liveByCpe.set(v.cpe_id, v);
}

// IPAM against the lifecycles is reconcile-ipam.ts: a pass over every holding, given in slices.
export { compareIpam } from './reconcile-ipam.ts';

/**
 * The part of a user's prefix rows the service manages (`attributes`, per radius.reply.framed_prefix);
 * null when it has none. With `none`, a Framed-IPv6-Prefix is the ISP's: not judged, never removed.
 */
export function managedPart(reply: FieldReply, attributes: string[]): FieldReply | null {
  const ours = new Set(attributes.map((a) => a.toLowerCase()));
  const rows = reply.rows.filter((r) => ours.has(r.attribute.toLowerCase()));
  if (rows.length === reply.rows.length) return reply;
  if (rows.length === 0) return null;
  const first = (attribute: string) => rows.find((r) => r.attribute.toLowerCase() === attribute.toLowerCase())?.value ?? null;
  return { ...reply, rows, delegatedPrefix: first('Delegated-IPv6-Prefix'), framedPrefix: first('Framed-IPv6-Prefix') };
}

/** One user's radreply rows against their lifecycle; `desired` is what the reply store would write. */
export function compareReply(ix: LifecycleIndex, reply: FieldReply, desired: (v: LifecycleView) => Map<string, string | null>, pools: Ipv6Prefix[]): Found | null {
  // Where the database takes several spellings for one user (MySQL), the lifecycle may hold any of
  // them: a repair then writes or removes under the lifecycle's, which the database applies to all.
  const byUser = (m: Map<string, LifecycleView>) => [reply.username, ...(reply.also ?? [])].map((u) => m.get(u)).find((x) => x !== undefined);
  const v = byUser(ix.liveByUser);
  if (v && !v.settled) return null;
  const found = reply.rows.map((r) => ({ attribute: r.attribute, op: r.op, value: r.value }));
  if (v && v.state === 'active') {
    if (matches(reply, desired(v))) return null;
    return { kind: 'radreply_missing', lifecycle: v, username: v.username ?? reply.username, prefix: v.prefix, cpeId: v.cpe_id, detail: { state: v.state, found }, repairable: true };
  }
  const gone = v ?? byUser(ix.revokedByUser) ?? null;
  const prefix = reply.delegatedPrefix ?? reply.framedPrefix;
  // Rows nobody here ever served are removed only inside our pools: a prefix outside them is not ours to judge.
  const inPools = prefix !== null && pools.some((p) => safeContains(p, prefix));
  return {
    kind: 'radreply_stale',
    lifecycle: gone,
    username: reply.username,
    prefix,
    cpeId: gone?.cpe_id ?? null,
    detail: { state: gone?.state ?? 'unknown', found, ...(gone ? {} : { in_pools: inPools }) },
    repairable: gone !== null || inPools,
  };
}

/**
 * A lifecycle whose prefix IPAM does not hold for it (ipam_missing) gets no radreply written: the prefix
 * may be gone or another subscriber's (a database restored from a backup older than IPAM and RADIUS).
 * Its radreply difference is only reported, until an operator settles the IPAM one. Nor are a revoked
 * lifecycle's radreply rows or CPE removed while IPAM holds a prefix for its subscriber under a lifecycle
 * this store does not know: the subscriber was allocated again since the backup, and they are its.
 */
export function holdBackUnheld(found: Found[]): void {
  const unheld = new Set(found.filter((f) => f.kind === 'ipam_missing' && f.lifecycle).map((f) => f.lifecycle!.id));
  // A subscriber IPAM holds a prefix for under a lifecycle this store does not know (allocated again
  // after the backup the database was restored from): its revoked lifecycle here is not the truth.
  const forgotten = new Map<string, string>();
  for (const f of found) {
    const h = f.held;
    if (f.kind === 'ipam_orphan' && !f.lifecycle && h?.lifecycleId && h.subscriberId && !h.quarantined) forgotten.set(h.subscriberId, h.lifecycleId);
  }
  for (const f of found) {
    // Nor is a CPE told to delegate a prefix IPAM does not hold for it.
    if ((f.kind === 'radreply_missing' || f.kind === 'cpe_not_delegating') && f.lifecycle && unheld.has(f.lifecycle.id)) {
      f.repairable = false;
      f.detail = { ...f.detail, ipam_missing: true };
    }
    const newer = f.lifecycle?.state === 'revoked' ? forgotten.get(f.lifecycle.subscriber_id) : undefined;
    if ((f.kind === 'radreply_stale' || f.kind === 'cpe_still_delegating') && newer !== undefined) {
      f.repairable = false;
      f.detail = { ...f.detail, forgotten_lifecycle_id: newer };
    }
  }
}

/** For each user still wanting a reply whose rows are absent altogether (compareReply sees only users with rows). */
export function missingReplies(ix: LifecycleIndex, usersWithRows: Set<string>): Found[] {
  const out: Found[] = [];
  for (const v of ix.live.values()) {
    if (!v.settled || v.state !== 'active' || !v.username || usersWithRows.has(v.username)) continue;
    out.push({ kind: 'radreply_missing', lifecycle: v, username: v.username, prefix: v.prefix, cpeId: v.cpe_id, detail: { state: v.state, found: [] }, repairable: true });
  }
  return out;
}

/** An open, recently updated session whose delegated prefix is not its subscriber's. */
export function compareSession(ix: LifecycleIndex, s: FieldSession, staleBefore: number): Found | null {
  const prefix = s.delegatedIpv6Prefix;
  if (!prefix) return null;
  const updated = Date.parse(toIso(s.updatedAt));
  if (!Number.isNaN(updated) && updated < staleBefore) return null;
  const mine = ix.liveByUser.get(s.username);
  const holder = ix.liveByPrefix.get(canonical(prefix));
  if (mine && !mine.settled) return null;
  if (holder && !holder.settled) return null;
  if (mine?.prefix === canonical(prefix)) return null;
  if (!mine && !holder) return null;
  return {
    kind: 'session_foreign_prefix',
    lifecycle: mine ?? holder ?? null,
    username: s.username,
    prefix,
    cpeId: null,
    detail: {
      nas_ip_address: s.nasIpAddress,
      acct_session_id: s.acctSessionId,
      subscriber_prefix: mine?.prefix ?? null,
      prefix_holder: holder && holder !== mine ? { lifecycle_id: holder.id, subscriber_id: holder.subscriber_id } : null,
    },
    repairable: false,
  };
}

/** A revoked lifecycle's CPE (no live lifecycle has it since) that GenieACS shows still delegating. */
export function compareCpe(v: LifecycleView, o: CpeObservation | undefined): Found | null {
  if (!o || o.pd !== 'delegating') return null;
  return {
    kind: 'cpe_still_delegating',
    lifecycle: v,
    username: v.username,
    prefix: v.prefix,
    cpeId: v.cpe_id,
    detail: { last_inform: o.lastInform, removal_pending: v.pending },
    // A removal still pending is the pending worker's: queuing a second would race it.
    repairable: !v.pending,
  };
}

/**
 * The settled active lifecycles with a CPE whose own CPE step is not pending (that one is the pending
 * worker's: its task may still be queued for an offline CPE), one per CPE (the newest).
 */
export function activeCpes(ix: LifecycleIndex): LifecycleView[] {
  return [...ix.liveByCpe.values()].filter((v) => v.settled && v.state === 'active' && !v.pending);
}

/** An active lifecycle's CPE that GenieACS shows with DHCPv6-PD off, or does not know. */
export function compareActiveCpe(v: LifecycleView, o: CpeObservation | undefined): Found | null {
  if (!o || o.pd === 'delegating') return null;
  return {
    kind: 'cpe_not_delegating',
    lifecycle: v,
    username: v.username,
    prefix: v.prefix,
    cpeId: v.cpe_id,
    detail: { pd: o.pd, last_inform: o.lastInform },
    // A device GenieACS does not know has nothing to queue a task on: which CPE is right is an operator's call.
    repairable: o.pd === 'off',
  };
}

function matches(reply: FieldReply, desired: Map<string, string | null>): boolean {
  for (const [attribute, value] of desired) {
    const rows = reply.rows.filter((r) => r.attribute.toLowerCase() === attribute.toLowerCase());
    // A row in another case is served all the same, but is not what the service writes.
    if (value === null ? rows.length > 0 : rows.length !== 1 || rows[0]!.value !== value || rows[0]!.op !== ':=' || rows[0]!.attribute !== attribute) return false;
  }
  return true;
}

function canonical(prefix: string): string {
  try {
    return formatPrefix(parsePrefix(prefix, 'prefix'));
  } catch {
    return prefix;
  }
}

function safeContains(outer: Ipv6Prefix, inner: string): boolean {
  try {
    return contains(outer, parsePrefix(inner, 'prefix'));
  } catch {
    return false;
  }
}

/** radacct's `2026-01-01 00:00:00` (UTC, as rlm_sql writes it) or an epoch, as ISO. */
function toIso(v: string | null): string {
  if (v === null) return '';
  if (/^\d+$/.test(v)) return new Date(Number(v) * 1000).toISOString();
  return v.includes('T') ? v : `${v.replace(' ', 'T')}Z`;
}
