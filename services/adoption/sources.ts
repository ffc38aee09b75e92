import { setImmediate as nextTurn } from 'node:timers/promises';
import { ServiceError } from '../errors.ts';
import { formatPrefix, parsePrefix } from '../ipv6.ts';
import { canonicalCidr } from '../netbox/cidr.ts';
import type { FileRecord, NetboxFieldPrefix, RadiusFieldSource, SubscriberRule } from './types.ts';

// Each source read into the plan's one form: observations of (prefix, who, where from). A value that
// is not a prefix is kept as written, so the plan can name it rather than drop it silently.

export interface Observation {
  source: 'netbox' | 'radreply' | 'radacct' | 'file';
  prefix: string;
  subscriberId: string | null;
  username: string | null;
  cpeId: string | null;
  state: FileRecord['state'] | null;
  netboxPrefixId: number | null;
  /** The lifecycle our NetBox mark names (a prefix allocated or adopted by this service). */
  markedFor: string | null;
  /** Of a prefix under our mark: the subscriber and the key the mark names. */
  mark?: { subscriberId: string | null; key: string; digest: boolean } | null;
}

const canon = (p: string) => canonicalCidr(p) ?? p;
/** A file's prefix is typed by hand: only its spelling is made canonical; host bits set keep it as written, for the plan to name. */
const strictCanon = (p: string) => {
  try {
    return formatPrefix(parsePrefix(typeof p === 'string' ? p.trim() : p));
  } catch {
    return p;
  }
};
const blank = { subscriberId: null, username: null, cpeId: null, state: null, netboxPrefixId: null, markedFor: null };

/** The subscriber a NetBox prefix names by the rule; a prefix under our mark names its own. */
export function subscriberByRule(p: NetboxFieldPrefix, rule: SubscriberRule): string | null {
  if (p.lifecycleId !== null && p.subscriberId) return p.subscriberId;
  if ('custom_field' in rule) {
    const v = p.customFields[rule.custom_field];
    return typeof v === 'string' && v.trim() !== '' ? v.trim() : typeof v === 'number' ? String(v) : null;
  }
  if ('tenant' in rule) {
    const v = p.tenant?.[rule.tenant];
    return v === undefined || v === null || v === '' ? null : String(v);
  }
  return new RegExp(rule.description).exec(p.description)?.[1]?.trim() || null;
}

/** Checks a description rule once, before anything is read: it must compile and capture. */
export function checkRule(rule: SubscriberRule): void {
  if (!('description' in rule)) return;
  let re: RegExp;
  try {
    re = new RegExp(rule.description);
  } catch (err) {
    throw new ServiceError('validation_error', `sources.netbox.subscriber.description: ${(err as Error).message}`, { field: 'sources.netbox.subscriber.description' });
  }
  // A pattern's group count: an empty match of `|` plus the pattern has one entry per group.
  if (new RegExp(`${re.source}|`).exec('')!.length < 2) {
    throw new ServiceError('validation_error', 'sources.netbox.subscriber.description needs a capture group naming the subscriber', {
      field: 'sources.netbox.subscriber.description',
    });
  }
}

export function fromNetbox(list: readonly NetboxFieldPrefix[], rule: SubscriberRule): Observation[] {
  // Deprecated prefixes of ours are in their hold-down: given back, nobody's to adopt. A legacy
  // deprecated one stays an entry: the importer names it `netbox_deprecated` (heldInIpam).
  // One pass, no filtered copy of the listing between (an ISP's NetBox lists ~200,000).
  const out: Observation[] = [];
  for (const p of list) {
    if ((p.lifecycleId !== null && p.status === 'deprecated') || p.status === 'container') continue;
    out.push({
      ...blank,
      source: 'netbox',
      prefix: canon(p.prefix),
      subscriberId: subscriberByRule(p, rule),
      netboxPrefixId: p.netboxPrefixId,
      markedFor: p.lifecycleId,
      mark: p.lifecycleId !== null && p.markKey ? { subscriberId: p.subscriberId || null, ...p.markKey } : null,
    });
  }
  return out;
}

export async function fromRadius(radius: RadiusFieldSource, opts: { sessions: boolean; pageSize?: number; signal?: AbortSignal }): Promise<Observation[]> {
  const out: Observation[] = [];
  const page = { ...(opts.pageSize ? { pageSize: opts.pageSize } : {}), ...(opts.signal ? { signal: opts.signal } : {}) };
  for await (const users of radius.replies(page)) {
    for (const u of users) if (u.delegatedPrefix) out.push({ ...blank, source: 'radreply', prefix: canon(u.delegatedPrefix), username: u.username });
  }
  if (!opts.sessions) return out;
  for await (const sessions of radius.openSessions(page)) {
    for (const s of sessions) if (s.delegatedIpv6Prefix) out.push({ ...blank, source: 'radacct', prefix: canon(s.delegatedIpv6Prefix), username: s.username });
  }
  return out;
}

const fileObservation = (r: FileRecord): Observation => ({
  ...blank,
  source: 'file',
  prefix: strictCanon(r.prefix),
  subscriberId: r.subscriber_id,
  username: r.username || null,
  cpeId: r.cpe_id || null,
  state: r.state ?? null,
});

export function fromFile(records: readonly FileRecord[]): Observation[] {
  return records.map(fileObservation);
}

/** File records canonicalised per turn of the event loop (a parse and a format of each prefix). */
export const FILE_SLICE = 2000;

/** fromFile's observations, FILE_SLICE records a turn: 50,000 in one go were one turn of the loop (issue 10). */
export async function fromFileInTurns(records: readonly FileRecord[]): Promise<Observation[]> {
  const out: Observation[] = new Array(records.length);
  for (let i = 0; i < records.length; i++) {
    if (i > 0 && i % FILE_SLICE === 0) await nextTurn();
    out[i] = fileObservation(records[i]!);
  }
  return out;
}
