// What the crash test asserts once the restarted service has finished what was in flight, read
// straight from the files the child left: each problem is one sentence naming what and whom.
import Database from 'better-sqlite3';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { stepKey } from '../../machines/steps.ts';
import { readContext } from '../../runtime/projection.ts';
import { formatPrefix, fromHex, lastAddress, parsePrefix } from '../../services/ipv6.ts';
import type { LifecycleRow } from '../../store/lifecycles.ts';
import { chainProblems } from './audit-chain.ts';
import { readPeers, type CallRow } from './crash-peers.ts';
import type { KillNote } from './crash-probe.ts';
import { AUDIT_TYPE, CRASH_PHASES, CRASH_POOL, POST_START, PRE_START, SETTLED_AFTER, plannedOps, type CrashOp } from './crash-scenario.ts';

interface AllocationRow {
  pool: string;
  prefix: string;
  start_hex: string;
  end_hex: string;
  key: string;
  lifecycle_id: string;
}
interface AuditRow {
  seq: number;
  lifecycle_id: string;
  type: string;
  from_state: string | null;
  to_state: string;
}
interface ReplyRow {
  username: string;
  attribute: string;
  value: string;
}

/** Everything the checks read, loaded once. */
function load(dir: string) {
  const db = new Database(join(dir, 'lifecycle.sqlite'), { fileMustExist: true });
  const radius = new Database(join(dir, 'radius.sqlite'), { fileMustExist: true });
  try {
    return {
      lifecycles: db.prepare<[], LifecycleRow>('SELECT * FROM lifecycles ORDER BY created_at, id').all(),
      audit: db.prepare<[], AuditRow>('SELECT seq, lifecycle_id, type, from_state, to_state FROM audit ORDER BY seq').all(),
      allocations: db.prepare<[], AllocationRow>('SELECT pool, prefix, start_hex, end_hex, key, lifecycle_id FROM ipam_allocations').all(),
      free: db.prepare<[string], { start_hex: string; end_hex: string }>('SELECT start_hex, end_hex FROM ipam_free WHERE pool = ?').all(CRASH_POOL.name),
      quarantine: db.prepare<[string], { prefix: string; start_hex: string; end_hex: string }>('SELECT prefix, start_hex, end_hex FROM ipam_quarantine WHERE pool = ?').all(CRASH_POOL.name),
      replies: radius.prepare<[], ReplyRow>('SELECT username, attribute, value FROM radreply ORDER BY id').all(),
      ...readPeers(join(dir, 'peers.sqlite')),
    };
  } finally {
    db.close();
    radius.close();
  }
}

export function readKillNote(dir: string): KillNote | null {
  const file = join(dir, 'kill-note.json');
  return existsSync(file) ? (JSON.parse(readFileSync(file, 'utf8')) as KillNote) : null;
}

/** Outside calls made again by a later run with the same key: the repeats the crash forced. */
export function repeatedCalls(calls: CallRow[]): string[] {
  const runsOf = new Map<string, Set<string>>();
  for (const c of calls) {
    const id = `${c.port} ${c.key}`;
    runsOf.set(id, (runsOf.get(id) ?? new Set()).add(c.run));
  }
  return [...runsOf].filter(([, runs]) => runs.size > 1).map(([id]) => id);
}

const live = (row: LifecycleRow) => row.state !== 'revoked';

export interface Verdict {
  problems: string[];
  repeated: string[];
  states: Record<string, number>;
  /** Moments a prefix was delegated to two subscribers at once (two CPEs, two radreply users). */
  overlaps: string[];
}

/** Returns every way the files break the acceptance criteria; empty `problems` means converged and consistent. */
export function checkConvergence(dir: string, notes: KillNote[]): Verdict {
  const d = load(dir);
  const problems: string[] = [];
  const bySubscriber = new Map<string, LifecycleRow[]>();
  for (const row of d.lifecycles) bySubscriber.set(row.subscriber_id, [...(bySubscriber.get(row.subscriber_id) ?? []), row]);
  const auditOf = (id: string) => d.audit.filter((a) => a.lifecycle_id === id);
  const states: Record<string, number> = {};
  for (const row of d.lifecycles) states[row.state] = (states[row.state] ?? 0) + 1;

  // Converged, and each lifecycle where its last accepted operation leads.
  const accepted = new Map<string, CrashOp[]>();
  for (const [subscriber, rows] of bySubscriber) {
    if (rows.length > 1) problems.push(`${subscriber} has ${rows.length} lifecycles; the scenario allocates once`);
    const row = rows[0]!;
    const tag = `${subscriber} (${row.id})`;
    if (row.busy !== 0) problems.push(`${tag} is still busy in ${row.state}`);
    const types = auditOf(row.id).map((a) => a.type);
    const ops: CrashOp[] = ['allocate', ...plannedOps(subscriber).filter((op) => types.includes(AUDIT_TYPE[op as Exclude<CrashOp, 'allocate'>]))];
    accepted.set(subscriber, ops);
    const operatorEvents = types.filter((t) => Object.values(AUDIT_TYPE).includes(t));
    const expectedEvents = plannedOps(subscriber).slice(0, operatorEvents.length).map((op) => AUDIT_TYPE[op as Exclude<CrashOp, 'allocate'>]);
    if (operatorEvents.join() !== expectedEvents.join()) problems.push(`${tag} recorded operations ${operatorEvents.join(', ')}; planned ${expectedEvents.join(', ')}`);
    const want = SETTLED_AFTER[ops.at(-1)!];
    if (row.state !== want) problems.push(`${tag} is ${row.state}; after ${ops.at(-1)} it must be ${want}`);
  }
  for (const s of [PRE_START, POST_START]) if (!bySubscriber.has(s)) problems.push(`late subscriber ${s} has no lifecycle`);

  // Phases ran one after the other: an operation of a phase means every earlier phase completed.
  const did = (s: string, op: CrashOp) => accepted.get(s)?.includes(op) ?? false;
  const started = CRASH_PHASES.map((p) => p.ops.some(([s, op]) => did(s, op)));
  for (const phase of CRASH_PHASES.slice(0, Math.max(0, started.lastIndexOf(true)))) {
    for (const [s, op] of phase.ops) if (!did(s, op)) problems.push(`${op} of ${s} (phase ${phase.name}) was lost: a later phase ran`);
  }

  // IPAM: nothing held twice, nothing lost, nothing left over, free and held-down space exact.
  const held = new Map<string, AllocationRow[]>();
  for (const a of d.allocations) held.set(a.prefix, [...(held.get(a.prefix) ?? []), a]);
  for (const [prefix, rows] of held) if (rows.length > 1) problems.push(`IPAM holds ${prefix} ${rows.length} times`);
  const livePrefixes = new Map<string, string>();
  for (const row of d.lifecycles) {
    const ctx = readContext(row);
    const mine = d.allocations.filter((a) => a.lifecycle_id === row.id);
    const tag = `${row.subscriber_id} (${row.state})`;
    if (!live(row)) {
      for (const a of mine) problems.push(`${tag} is revoked but IPAM still holds ${a.prefix} for it`);
      continue;
    }
    if (!row.prefix || !ctx.current) {
      problems.push(`${tag} holds no prefix`);
      continue;
    }
    const other = livePrefixes.get(row.prefix);
    if (other) problems.push(`${row.prefix} is held by both ${other} and ${row.subscriber_id}`);
    livePrefixes.set(row.prefix, row.subscriber_id);
    const key = stepKey(row.id, 'allocate', ctx.current.generation);
    if (!mine.some((a) => a.prefix === row.prefix && a.key === key)) problems.push(`${tag} holds ${row.prefix} but IPAM lost it (no row under ${key})`);
    for (const a of mine) if (a.prefix !== row.prefix) problems.push(`${tag} holds ${row.prefix}, yet IPAM also keeps ${a.prefix} for it`);
    if (ctx.next || ctx.retired) problems.push(`${tag} still has a half-done update (next/retired)`);
    // Read loosely: allocation attempts with a lost answer are a field the machine is gaining.
    const unconfirmed = (ctx as { unconfirmed?: unknown[] }).unconfirmed ?? [];
    if (unconfirmed.length > 0) problems.push(`${tag} still has ${unconfirmed.length} unconfirmed allocation attempt(s)`);
  }
  for (const a of d.allocations) {
    if (!d.lifecycles.some((r) => r.id === a.lifecycle_id)) problems.push(`IPAM holds ${a.prefix} for unknown lifecycle ${a.lifecycle_id}`);
  }
  problems.push(...tiling(d.allocations, d.free, d.quarantine));

  // RADIUS reply attributes exist exactly for active lifecycles, with their prefix.
  for (const row of d.lifecycles) {
    if (!row.username) continue;
    const rows = d.replies.filter((r) => r.username === row.username);
    const delegated = rows.filter((r) => r.attribute === 'Delegated-IPv6-Prefix').map((r) => r.value);
    if (row.state === 'active' && delegated.join() !== row.prefix) problems.push(`${row.subscriber_id} is active with ${row.prefix}; radreply has [${delegated.join(', ')}]`);
    if (row.state !== 'active' && rows.length > 0) problems.push(`${row.subscriber_id} is ${row.state}; radreply still has ${rows.length} row(s)`);
  }
  const usernames = new Set(d.lifecycles.map((r) => r.username));
  for (const r of d.replies) if (!usernames.has(r.username)) problems.push(`radreply row for unknown user ${r.username}`);

  // CPE: configured with the current prefix while active or suspended, emptied once revoked.
  for (const row of d.lifecycles) {
    if (!row.cpe_id) continue;
    const cpe = d.cpe.find((c) => c.cpe_id === row.cpe_id);
    const want = live(row) ? row.prefix : null;
    if ((cpe?.prefix ?? null) !== want) problems.push(`${row.subscriber_id} is ${row.state}; CPE ${row.cpe_id} has ${cpe?.prefix ?? 'nothing'}, want ${want ?? 'IPv6 removed'}`);
  }

  // Audit: starts at creation, each entry leaves from where the previous one arrived, ends at the row.
  for (const row of d.lifecycles) {
    const trail = auditOf(row.id).map((a) => ({ type: a.type, from: a.from_state, to: a.to_state, label: `#${a.seq}` }));
    problems.push(...chainProblems(row.subscriber_id, trail, row.state));
  }

  // The runtime's promise: every outside call was made from a step whose snapshot was on disk.
  for (const c of d.calls) if (c.problem) problems.push(`${c.run}: ${c.problem} (${c.key})`);

  // Targeted: what the killed run had committed outside is what the lifecycle ends up with.
  const repeated = repeatedCalls(d.calls);
  for (const note of notes) problems.push(...checkNote(note, d.lifecycles, d.allocations));
  // A call that completed while its step was never recorded as done must have been made again.
  for (const note of notes) {
    if (note.call && /:after(-commit)?$/.test(note.label) && !repeated.includes(note.call)) problems.push(`${note.label}: ${note.call} completed unrecorded and was never repeated`);
  }

  const overlaps = d.overlaps.map((o) => `${o.run}: ${o.prefix} given to ${o.holder} while ${o.other} still had it`);
  return { problems, repeated, states, overlaps };
}

function checkNote(note: KillNote, lifecycles: LifecycleRow[], allocations: AllocationRow[]): string[] {
  const row = lifecycles.find((r) => r.id === note.lifecycle_id);
  if (!note.prefix || !row) return [];
  if (/allocate:after-commit$/.test(note.label)) {
    // The repeated allocation must answer with the block the lost answer carried, not a second one.
    const ctx = readContext(row);
    const ok = live(row) ? ctx.current?.prefix === note.prefix : !allocations.some((a) => a.prefix === note.prefix && a.lifecycle_id === row.id);
    return ok ? [] : [`${note.label}: IPAM had committed ${note.prefix} for ${row.subscriber_id}, which now holds ${ctx.current?.prefix ?? 'nothing'}`];
  }
  if (/release:after-commit$/.test(note.label) && allocations.some((a) => a.prefix === note.prefix && a.lifecycle_id === row.id)) {
    return [`${note.label}: ${note.prefix} was released for ${row.subscriber_id} and is held for it again`];
  }
  return [];
}

/** Allocated blocks, free runs and held-down blocks must tile the pool's parent: no overlap (held twice), no gap (lost). */
function tiling(
  allocations: AllocationRow[],
  free: { start_hex: string; end_hex: string }[],
  quarantine: { prefix: string; start_hex: string; end_hex: string }[],
): string[] {
  const parent = parsePrefix(CRASH_POOL.prefix);
  const runs = [
    ...allocations.filter((a) => a.pool === CRASH_POOL.name).map((a) => ({ kind: a.prefix, start: fromHex(a.start_hex), end: fromHex(a.end_hex) })),
    ...free.map((f) => ({ kind: 'free space', start: fromHex(f.start_hex), end: fromHex(f.end_hex) })),
    ...quarantine.map((q) => ({ kind: `${q.prefix} (held down)`, start: fromHex(q.start_hex), end: fromHex(q.end_hex) })),
  ].sort((a, b) => (a.start < b.start ? -1 : a.start > b.start ? 1 : 0));
  const at = (n: bigint) => formatPrefix({ network: n, length: 128 });
  const out: string[] = [];
  let next = parent.network;
  let previous = 'the pool start';
  for (const r of runs) {
    if (r.start < next) out.push(`IPAM: ${r.kind} at ${at(r.start)} overlaps ${previous}`);
    if (r.start > next) out.push(`IPAM: ${at(next)}..${at(r.start - 1n)} is neither allocated nor free (lost)`);
    if (r.end + 1n > next) next = r.end + 1n;
    previous = r.kind;
  }
  if (next !== lastAddress(parent) + 1n) out.push(`IPAM: the pool's tail from ${at(next)} is neither allocated nor free (lost)`);
  return out;
}

