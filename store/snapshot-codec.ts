import { initialContext } from '../machines/context.ts';
import type { LifecycleContext, OwnedPrefix } from '../machines/types.ts';
import type { LifecycleRow } from './lifecycles.ts';

// How a persisted actor snapshot is stored in `lifecycles.snapshot`. XState's persisted snapshot
// repeats what the row's columns already hold (ids, prefix, username, timestamps) and every default
// (nulls, empty lists, `status: active`, no children): 650-700 bytes for a settled lifecycle, most
// of its row. Version 2 keeps only what the columns and the defaults cannot give back:
//   {"v":2,"s":"active.idle","c":{...context fields that differ...},"ch":{...children}, ...}
// A settled lifecycle on the default IPAM is `{"v":2,"s":"active.idle"}`. Decoding rebuilds the
// snapshot exactly (test/store/snapshot-codec.test.ts walks every state of the model). Version 1,
// the plain JSON, is still read; migration 011 rewrites the stored ones with `compact_snapshot()`.

/** The columns a snapshot is decoded against (they are projections of it: runtime/projection.ts). */
export type SnapshotColumns = Pick<
  LifecycleRow,
  'id' | 'subscriber_id' | 'pool' | 'prefix' | 'prefix_length' | 'netbox_prefix_id' | 'username' | 'cpe_id' | 'allocated_at' | 'activated_at' | 'suspended_at' | 'revoked_at'
>;

type Json = unknown;
type Persisted = { status: string; value: Json; historyValue?: Json; context: LifecycleContext; children?: Record<string, Json>; [k: string]: Json };
type Compact = { v: 2; s: string | Json; c?: Record<string, Json>; st?: string; h?: Json; ch?: Json; x?: Record<string, Json> };

const DEFAULT_IPAM = 'embedded';

/** The context the columns and the defaults give: the base the stored fields are a difference from. */
function baseContext(row: SnapshotColumns, ctx: Pick<LifecycleContext, 'generation' | 'ipam'>): LifecycleContext {
  const current: OwnedPrefix | null =
    row.prefix === null
      ? null
      : { prefix: row.prefix, prefixLength: row.prefix_length, netboxPrefixId: row.netbox_prefix_id, pool: row.pool, generation: ctx.generation, ipam: ctx.ipam };
  // The machine's own initial context, with what the row's columns hold: set on it, not spread
  // into a new object (V8's slow path for a spread, ~1 µs an encode); the keys are its own, in its order.
  const base = initialContext({ lifecycleId: row.id, subscriberId: row.subscriber_id, pool: row.pool, prefixLength: row.prefix_length, ipam: DEFAULT_IPAM });
  base.current = current;
  base.username = row.username;
  base.cpeId = row.cpe_id;
  base.allocatedAt = row.allocated_at;
  base.activatedAt = row.activated_at;
  base.suspendedAt = row.suspended_at;
  base.revokedAt = row.revoked_at;
  return base;
}

// Two empty lists (most of a context's lists, most of the time) are the same without their JSON.
const same = (a: Json, b: Json) => a === b || (Array.isArray(a) && Array.isArray(b) && a.length === 0 && b.length === 0) || JSON.stringify(a) === JSON.stringify(b);
const isEmpty = (o: Json) => o !== null && typeof o === 'object' && Object.keys(o).length === 0;

/** The state value as a dotted path when it is one chain of single keys (this machine has no parallel states). */
function valueToPath(v: Json): string | Json {
  const parts: string[] = [];
  let at = v;
  while (at !== null && typeof at === 'object' && Object.keys(at).length === 1) {
    const [k, child] = Object.entries(at)[0]!;
    parts.push(k);
    at = child;
  }
  return typeof at === 'string' && !at.includes('.') && parts.every((p) => !p.includes('.')) ? [...parts, at].join('.') : v;
}

function pathToValue(s: string | Json): Json {
  if (typeof s !== 'string') return s;
  const parts = s.split('.');
  let value: Json = parts.pop()!;
  while (parts.length) value = { [parts.pop()!]: value };
  return value;
}

/** The stored text of a persisted snapshot, given the columns of its row. */
export function encodeSnapshot(persisted: Json, row: SnapshotColumns): string {
  const { status, value, historyValue, context, children, ...rest } = persisted as Persisted;
  const out: Compact = { v: 2, s: valueToPath(value) };
  const base = baseContext(row, context);
  const c: Record<string, Json> = {};
  for (const key of Object.keys(context) as (keyof LifecycleContext)[]) {
    const mine = context[key];
    const theirs = base[key];
    if (same(mine, theirs)) continue;
    if (key === 'current' && mine !== null && theirs !== null) {
      // The prefix itself is in the columns: keep the fields that differ (an IPAM's answer of another length).
      const diff = Object.fromEntries(Object.entries(mine as OwnedPrefix).filter(([k, x]) => !same(x, (theirs as unknown as Record<string, Json>)[k])));
      c.current = diff;
    } else c[key] = mine === undefined ? null : mine;
  }
  // A field the base has and the context lacks (a snapshot written before the field existed) stays absent.
  const absent = (Object.keys(base) as (keyof LifecycleContext)[]).filter((k) => !(k in context));
  if (absent.length) c['-'] = absent;
  if (Object.keys(c).length) out.c = c;
  if (status !== 'active') out.st = status;
  if (historyValue !== undefined && !isEmpty(historyValue)) out.h = historyValue;
  if (children !== undefined && !isEmpty(children)) out.ch = children;
  const extra = Object.fromEntries(Object.entries(rest).filter(([, x]) => x !== undefined));
  if (Object.keys(extra).length) out.x = extra;
  return JSON.stringify(out);
}

/** The persisted snapshot a row stores, in either version. */
export function decodeSnapshot(row: SnapshotColumns & Pick<LifecycleRow, 'snapshot'>): Persisted {
  const stored = JSON.parse(row.snapshot) as Compact | Persisted;
  if ((stored as Compact).v !== 2) return stored as Persisted;
  const s = stored as Compact;
  return { status: s.st ?? 'active', value: pathToValue(s.s), historyValue: s.h ?? {}, context: decodeContext(row, s.c ?? {}), children: (s.ch ?? {}) as Record<string, Json>, ...s.x };
}

function decodeContext(row: SnapshotColumns, c: Record<string, Json>): LifecycleContext {
  const generation = (c.generation as number | undefined) ?? 0;
  const ipam = (c.ipam as LifecycleContext['ipam'] | undefined) ?? DEFAULT_IPAM;
  const base = baseContext(row, { generation, ipam });
  const ctx: Record<string, Json> = {};
  const absent = new Set((c['-'] as string[] | undefined) ?? []);
  for (const key of Object.keys(base) as (keyof LifecycleContext)[]) {
    if (absent.has(key)) continue;
    if (key === 'current' && base.current !== null && c.current !== null) ctx.current = { ...base.current, ...(c.current as object | undefined) };
    else ctx[key] = key in c ? c[key] : base[key];
  }
  for (const key of Object.keys(c)) if (key !== '-' && !(key in base)) ctx[key] = c[key];
  return ctx as unknown as LifecycleContext;
}

/** A stored snapshot in version 2, whichever version it was in: what migration 011 runs on every row. */
export function compactStored(row: SnapshotColumns & Pick<LifecycleRow, 'snapshot'>): string {
  const stored = JSON.parse(row.snapshot) as { v?: number };
  return stored.v === 2 ? row.snapshot : encodeSnapshot(stored, row);
}

/** `compact_snapshot(id, subscriber_id, …, snapshot)` for the migrations' SQL, in the column order of SNAPSHOT_COLUMNS. */
export const SNAPSHOT_COLUMNS = ['id', 'subscriber_id', 'pool', 'prefix', 'prefix_length', 'netbox_prefix_id', 'username', 'cpe_id', 'allocated_at', 'activated_at', 'suspended_at', 'revoked_at', 'snapshot'] as const;

export function compactSnapshotSql(...values: unknown[]): string {
  const row = Object.fromEntries(SNAPSHOT_COLUMNS.map((c, i) => [c, values[i]])) as unknown as SnapshotColumns & Pick<LifecycleRow, 'snapshot'>;
  return compactStored(row);
}

/**
 * SQL for the IPAM that holds a stored lifecycle's prefix (its current one's, else the one it asked
 * for), in either version: a version-2 snapshot names it only when it is not the default.
 */
export const SNAPSHOT_IPAM_SQL = `coalesce(json_extract(snapshot, '$.context.current.ipam'), json_extract(snapshot, '$.context.ipam'),
  json_extract(snapshot, '$.c.current.ipam'), json_extract(snapshot, '$.c.ipam'), CASE WHEN snapshot LIKE '{"v":2,%' THEN '${DEFAULT_IPAM}' END)`;

/** SNAPSHOT_IPAM_SQL in PostgreSQL's dialect, over `j`: the row's snapshot as jsonb. */
export const SNAPSHOT_IPAM_PG = `coalesce(j #>> '{context,current,ipam}', j #>> '{context,ipam}', j #>> '{c,current,ipam}', j #>> '{c,ipam}',
  CASE WHEN j ->> 'v' = '2' THEN '${DEFAULT_IPAM}' END)`;
