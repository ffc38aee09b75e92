import type { ImportedState, IpamKind } from '../../machines/types.ts';
import type { FieldReply, FieldSession } from '../field/radius.ts';

// The shapes adoption reads the field in and reports it back. The readers are the field readers of
// services/field/ (reconciliation reads the same field); only the fields adoption uses are required.

/** A prefix NetBox holds inside a pool's parent, marked by us or not. */
export type { NetboxFieldPrefix } from '../netbox/holdings.ts';

/** One user's prefix rows in radreply: what adoption reads of a FieldReply. */
export type RadiusReplyOfUser = Pick<FieldReply, 'username' | 'delegatedPrefix'>;

/** One open radacct session: what adoption reads of a FieldSession. */
export type OpenSession = Pick<FieldSession, 'username' | 'delegatedIpv6Prefix'>;

/** The RADIUS side of the field, page by page, only read (a RadiusFieldReader fits). */
export interface RadiusFieldSource {
  replies(opts?: { pageSize?: number; signal?: AbortSignal }): AsyncIterable<RadiusReplyOfUser[]>;
  openSessions(opts?: { pageSize?: number; signal?: AbortSignal }): AsyncIterable<OpenSession[]>;
}

/** One record of the file source, and of the report's CSV (which adds `conflict`). */
export interface FileRecord {
  subscriber_id: string;
  prefix: string;
  username?: string | null | undefined;
  cpe_id?: string | null | undefined;
  state?: ImportedState | null | undefined;
}

/** How a NetBox prefix names its subscriber. */
export type SubscriberRule =
  | { custom_field: string }
  | { tenant: 'name' | 'slug' | 'id' }
  /** A regular expression over the description; its first capture group is the subscriber id. */
  | { description: string };

export interface ImportSources {
  netbox?: { subscriber: SubscriberRule } | undefined;
  radius?: { sessions?: boolean | undefined } | undefined;
  file?: { records: FileRecord[] } | undefined;
}

export interface ImportOptions {
  /** A prefix no NetBox rule nor file names the subscriber of takes its RADIUS username as the subscriber id. */
  subscriber_from_username?: boolean | undefined;
  /** Subscribers committed per transaction when applying. */
  batch_size?: number | undefined;
}

export const CONFLICT_KINDS = [
  /** Two users (or two subscribers) carry the prefix. */
  'shared_prefix',
  /** The prefix is inside no configured pool. */
  'outside_pools',
  /** NetBox holds the prefix and RADIUS has no row for it: active, suspended or gone, nobody can tell. */
  'no_radius_row',
  /** The prefix is not of its pool's delegated length. */
  'wrong_length',
  /** The subscriber carries two or more prefixes. */
  'two_prefixes',
  /** The subscriber already has a live lifecycle, with another prefix; or the prefix is another's lifecycle's. */
  'live_lifecycle',
  /** Nothing names the prefix's subscriber. */
  'unnamed',
  /** The subscriber id, username or CPE id is one the API would refuse (blank, control characters, too long, "." or ".."). */
  'invalid_name',
  /** The RADIUS username is another subscriber's: in the plan, or a live lifecycle's. */
  'username_in_use',
  /** The prefix is under our mark of a lifecycle it cannot be adopted under: one the store has, another subscriber's, a later allocation's. */
  'marked_lifecycle',
  /** IPAM holds (part of) the block for no live lifecycle of the plan's: a released prefix in its hold-down, an allocation in flight. */
  'ipam_held',
  /** NetBox has the prefix, without our mark, in status deprecated: a retired subscriber's, not adopted back to life unless an operator sets it active. */
  'netbox_deprecated',
] as const;
export type ConflictKind = (typeof CONFLICT_KINDS)[number];

export interface Conflict {
  kind: ConflictKind;
  message: string;
}

/** One subscriber-and-prefix of the plan. */
export interface PlanEntry {
  subscriber_id: string | null;
  prefix: string;
  pool: string | null;
  ipam: IpamKind | null;
  username: string | null;
  cpe_id: string | null;
  state: ImportedState | null;
  /** Which sources named it: `netbox`, `radreply`, `radacct`, `file`. */
  sources: string[];
  netbox_prefix_id: number | null;
  /** Derived from subscriber and prefix: the same in every run, so a rerun finds what an earlier one did. */
  lifecycle_id: string | null;
  /** `adopt`: will be (or was, once applied) adopted; `adopted`: a lifecycle owns it already; `conflict`: an operator must decide. */
  action: 'adopt' | 'adopted' | 'conflict';
  conflicts: Conflict[];
}

export interface ImportReport {
  dry_run: boolean;
  generated_at: string;
  sources: string[];
  summary: { entries: number; adopt: number; adopted: number; conflict: number; conflicts_by_kind: Partial<Record<ConflictKind, number>> };
  /** Set when applied: what this run adopted, and what failed (retry by running again). */
  applied: { adopted: number; failed: { subscriber_id: string; prefix: string; error: string }[] } | null;
  entries: PlanEntry[];
}
