// The audit entry's `detail` as stored: compact, and read back as the very JSON text it was written
// as (the events endpoint answers what it always did). Most of a detail repeats what its row already
// says: `state` is `to_state` or a path below it, `from_state` is `from_state` or a path below it,
// `step` is one of a few public step names, and the keys inside are a few snake_case words. The
// compact form is a JSON array:
//   [state, from_state, step, rest?]
// state and from_state relative to their columns ('' the column itself, 'idle' for `<column>.idle`,
// '=path' anything else; from_state 0 when absent), step an index into STEP_NAMES (or the name
// itself; -1 when absent), rest the other keys in order with the keys of KEYS written as one capital
// letter (a detail's keys are snake_case, never capitals), an `ipam` name as its index in IPAM_NAMES
// (rows stored before that read as they were: a string). A detail that would not read back exactly
// is stored as it is; so is every row written before this codec: a JSON object, read as it is.
//
// STEP_NAMES and KEYS are part of the stored format: append only, never reorder.

const STEP_NAMES = [
  'embedded_allocate', 'embedded_release', 'embedded_free',
  'netbox_allocate', 'netbox_release', 'netbox_free',
  'fake_allocate', 'fake_release', 'fake_free',
  'radius_write_reply', 'radius_remove_reply', 'radius_sessions',
  'cpe_configure_pd', 'cpe_remove_ipv6',
];
const KEYS = [
  'output', 'prefix', 'prefix_length', 'netbox_prefix_id', 'pool', 'ipam', 'reason', 'error', 'code', 'message', 'attempts',
  'username', 'cpe_id', 'status', 'task_id', 'superseded_by', 'next_attempt_at', 'nas', 'session_id', 'result', 'action',
];
// The value of `ipam` (key F) as an index into IPAM_NAMES: the name of the IPAM is in every
// allocation's detail. Append only, as the lists above.
const IPAM_NAMES = ['embedded', 'netbox', 'fake'];
const IPAM_INDEX = new Map(IPAM_NAMES.map((n, i) => [n, i]));
const STEP_INDEX = new Map(STEP_NAMES.map((n, i) => [n, i]));
const CODE = new Map(KEYS.map((k, i) => [k, String.fromCharCode(65 + i)]));
const KEY = new Map(KEYS.map((k, i) => [String.fromCharCode(65 + i), k]));

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** `path` relative to its row's column. */
function relative(path: string, column: string | null): string {
  if (column !== null && path === column) return '';
  if (column !== null && path.startsWith(`${column}.`)) return path.slice(column.length + 1);
  return `=${path}`;
}

function absolute(rel: string, column: string | null): string {
  if (rel.startsWith('=')) return rel.slice(1);
  return rel === '' ? (column ?? '') : `${column}.${rel}`;
}

/** Keys renamed by `map`; with `values`, each `ipam` string coded (encoding) or decoded. */
function mapKeys(value: Json, map: Map<string, string>, values: (key: string, v: Json) => Json): Json {
  if (Array.isArray(value)) return value.map((v) => mapKeys(v, map, values));
  if (value === null || typeof value !== 'object') return value;
  const out: { [k: string]: Json } = {};
  for (const [k, v] of Object.entries(value)) {
    const key = map.get(k) ?? k;
    out[key] = values(key, mapKeys(v, map, values));
  }
  return out;
}
const codeIpam = (key: string, v: Json): Json => (key === 'F' && typeof v === 'string' ? (IPAM_INDEX.get(v) ?? v) : v);
const nameIpam = (key: string, v: Json): Json => (key === 'ipam' && typeof v === 'number' ? (IPAM_NAMES[v] ?? v) : v);

/**
 * The stored form of `detail` (JSON text), for a row going from `fromState` to `toState`. `object`,
 * when the caller has it, is what `detail` is the JSON.stringify() of: it is encoded without parsing
 * the text again, into the same bytes (anything it holds that JSON would not read back as it is,
 * such as a Date, fails the check below, and the text is parsed after all).
 */
export function encodeAuditDetail(detail: string | null, toState: string, fromState: string | null, object?: object): string | null {
  if (detail === null || !detail.startsWith('{')) return detail;
  if (object !== undefined && !Array.isArray(object)) {
    const compact = compactOf(detail, object as { [k: string]: Json }, toState, fromState);
    if (compact !== detail) return compact;
  }
  return compactOf(detail, JSON.parse(detail) as { [k: string]: Json }, toState, fromState);
}

/** The compact form of `d` (parsed from `detail`, or what `detail` was written from), or `detail` itself when that would not read back exactly. */
function compactOf(detail: string, d: { [k: string]: Json }, toState: string, fromState: string | null): string {
  const { state, from_state: from, step, ...rest } = d;
  if (typeof state !== 'string' || (from !== undefined && typeof from !== 'string') || (step !== undefined && typeof step !== 'string')) return detail;
  const parts: Json[] = [
    relative(state, toState),
    from === undefined ? 0 : relative(from, fromState),
    step === undefined ? -1 : (STEP_INDEX.get(step) ?? step),
  ];
  // A key whose value is undefined is not in the text (nor in what it parses to).
  if (Object.values(rest).some((v) => v !== undefined)) parts.push(mapKeys(rest, CODE, codeIpam));
  const compact = JSON.stringify(parts);
  // Only what reads back as the same text (key order included) is stored compact.
  return decodeAuditDetail(compact, toState, fromState) === detail ? compact : detail;
}

/** The JSON text a stored `detail` was written as. */
export function decodeAuditDetail(stored: string | null, toState: string, fromState: string | null): string | null {
  if (stored === null || !stored.startsWith('[')) return stored;
  const [state, from, step, rest] = JSON.parse(stored) as [string, string | 0, number | string, { [k: string]: Json } | undefined];
  const d: { [k: string]: Json } = { state: absolute(state, toState) };
  if (from !== 0) d.from_state = absolute(from, fromState);
  if (step !== -1) d.step = typeof step === 'number' ? STEP_NAMES[step]! : step;
  if (rest) Object.assign(d, mapKeys(rest, KEY, nameIpam));
  return JSON.stringify(d);
}

// The entry's other columns as audit_log stores them (migration 013), written by the store's own
// hot path; the `audit` view reads them back as text in SQL. Each is encoded only when it reads
// back exactly, as the view's insert trigger encodes what other writers insert. Numbers go as
// BigInt: better-sqlite3 binds a JS number as a REAL (8 bytes, and not what the view decodes).

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;

/** A lowercase UUID as its 16 bytes, anything else as it is. */
export function encodeLifecycleId(id: string): string | Buffer {
  return UUID.test(id) ? Buffer.from(id.replaceAll('-', ''), 'hex') : id;
}

/** A toISOString() text as its milliseconds (the view's strftime gives the text back), anything else as it is. */
export function encodeAt(at: string): string | bigint {
  const ms = Date.parse(at);
  return ms >= 0 && new Date(ms).toISOString() === at ? BigInt(ms) : at;
}

/** The encoder of words (event types, states) by the codes of audit_words: unknown ones stay text. */
export function wordEncoder(codes: ReadonlyMap<string, number>) {
  const big = new Map([...codes].map(([w, c]) => [w, BigInt(c)]));
  return <T extends string | null>(word: T): T | bigint => (word === null ? word : (big.get(word) ?? word));
}
