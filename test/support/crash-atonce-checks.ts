// What the at-once crash cases assert once the restarted service has sent the scenario again and
// settled, read from the files: the service kept every 201 the client heard, IPAM holds exactly the
// live lifecycles' prefixes, no lifecycle is half-written, and a key sent again never cost a
// second prefix. Each problem is one sentence naming what and whom.
import Database from 'better-sqlite3';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { stepKey } from '../../machines/steps.ts';
import { readContext } from '../../runtime/projection.ts';
import { decodeAuditDetail } from '../../store/audit-codec.ts';
import type { LifecycleRow } from '../../store/lifecycles.ts';
import { chainProblems } from './audit-chain.ts';
import { readHeard } from './crash-atonce-client.ts';
import { AT_ONCE_SUBSCRIBERS, settledState, type Heard } from './crash-atonce-scenario.ts';
import { readPeers } from './crash-peers.ts';
import type { KillNote } from './crash-probe.ts';
import type { Verdict } from './crash-checks.ts';

interface AllocationRow {
  prefix: string;
  key: string;
  lifecycle_id: string;
}

function load(dir: string) {
  const db = new Database(join(dir, 'lifecycle.sqlite'), { fileMustExist: true });
  try {
    return {
      lifecycles: db.prepare<[], LifecycleRow>('SELECT * FROM lifecycles ORDER BY created_at, id').all(),
      audit: db.prepare<[], { seq: number; lifecycle_id: string; type: string; from_state: string | null; to_state: string; detail: string }>(
        'SELECT seq, lifecycle_id, type, from_state, to_state, detail FROM audit ORDER BY seq',
      ).all(),
      allocations: db.prepare<[], AllocationRow>('SELECT prefix, key, lifecycle_id FROM ipam_allocations').all(),
      heard: existsSync(join(dir, 'client.sqlite')) ? readHeard(join(dir, 'client.sqlite')) : [],
      calls: readPeers(join(dir, 'peers.sqlite')).calls,
    };
  } finally {
    db.close();
  }
}

/** Every way the files break the acceptance criteria of the at-once path; empty `problems` means it held. */
export function checkAtOnce(dir: string, notes: KillNote[]): Verdict {
  const d = load(dir);
  const problems: string[] = [];
  const byId = new Map(d.lifecycles.map((r) => [r.id, r]));
  const states: Record<string, number> = {};
  for (const row of d.lifecycles) states[row.state] = (states[row.state] ?? 0) + 1;

  // One lifecycle per subscriber, where the scenario leads it: a key sent again never made a second one.
  for (const s of AT_ONCE_SUBSCRIBERS) {
    const rows = d.lifecycles.filter((r) => r.subscriber_id === s);
    if (rows.length !== 1) problems.push(`${s} has ${rows.length} lifecycles; the scenario allocates once`);
    for (const row of rows) {
      if (row.busy !== 0) problems.push(`${s} (${row.id}) is still busy in ${row.state}`);
      if (row.state !== settledState(s)) problems.push(`${s} (${row.id}) is ${row.state}; want ${settledState(s)}`);
    }
  }

  // Every 201 (and every replay of it) the client heard is kept: that lifecycle, with that prefix.
  const allocatedPrefix = (id: string) => {
    const entry = d.audit.find((a) => a.lifecycle_id === id && a.to_state === 'allocated');
    const detail = entry ? decodeAuditDetail(entry.detail, entry.to_state, entry.from_state) : null;
    return detail ? ((JSON.parse(detail) as { output?: { prefix?: string } }).output?.prefix ?? null) : null;
  };
  const answersOf = new Map<string, Heard[]>();
  for (const h of d.heard) answersOf.set(h.key, [...(answersOf.get(h.key) ?? []), h]);
  for (const h of d.heard.filter((x) => x.op === 'allocate' && x.status < 300)) {
    const tag = `${h.run}: ${h.status} for ${h.subscriber} (${h.lifecycle_id})`;
    const row = h.lifecycle_id ? byId.get(h.lifecycle_id) : undefined;
    if (!row) {
      problems.push(`${tag}: no such lifecycle on disk`);
      continue;
    }
    if (!h.prefix || allocatedPrefix(row.id) !== h.prefix) problems.push(`${tag} named ${h.prefix}; the lifecycle was allocated ${allocatedPrefix(row.id) ?? 'nothing'}`);
    if (row.state !== 'revoked' && row.prefix !== h.prefix) problems.push(`${tag} named ${h.prefix}; the lifecycle holds ${row.prefix ?? 'nothing'}`);
  }
  for (const [key, answers] of answersOf) {
    const ids = new Set(answers.filter((a) => a.status < 300).map((a) => `${a.lifecycle_id} ${a.prefix ?? ''}`));
    if (answers[0]!.op === 'allocate' && ids.size > 1) problems.push(`${key} was answered with ${ids.size} different lifecycles: ${[...ids].join('; ')}`);
  }
  for (const s of AT_ONCE_SUBSCRIBERS) if (!d.heard.some((h) => h.subscriber === s && h.op === 'allocate' && h.status < 300)) problems.push(`${s}'s allocation was never answered`);

  // IPAM holds exactly the live lifecycles' prefixes, each once, under their allocation's key.
  const held = new Map<string, number>();
  for (const a of d.allocations) held.set(a.prefix, (held.get(a.prefix) ?? 0) + 1);
  for (const [prefix, n] of held) if (n > 1) problems.push(`IPAM holds ${prefix} ${n} times`);
  for (const a of d.allocations) {
    const row = byId.get(a.lifecycle_id);
    if (!row) problems.push(`IPAM holds ${a.prefix} for ${a.lifecycle_id}, which has no lifecycle row (leaked, or the row was lost)`);
    else if (row.state === 'revoked') problems.push(`IPAM holds ${a.prefix} for ${row.subscriber_id}, which is revoked`);
    else if (row.prefix !== a.prefix) problems.push(`IPAM holds ${a.prefix} for ${row.subscriber_id}, which holds ${row.prefix ?? 'nothing'}`);
  }
  for (const row of d.lifecycles.filter((r) => r.state !== 'revoked')) {
    const ctx = readContext(row);
    const key = ctx.current ? stepKey(row.id, 'allocate', ctx.current.generation) : null;
    if (!row.prefix || !d.allocations.some((a) => a.lifecycle_id === row.id && a.prefix === row.prefix && a.key === key)) {
      problems.push(`${row.subscriber_id} (${row.id}) is ${row.state} with ${row.prefix ?? 'no prefix'}, and IPAM has no row for it under ${key}`);
    }
  }

  // Not half-written: each lifecycle's trail starts at creation and is one chain, ending at its row.
  for (const row of d.lifecycles) {
    const trail = d.audit.filter((a) => a.lifecycle_id === row.id).map((a) => ({ type: a.type, from: a.from_state, to: a.to_state, label: `#${a.seq}` }));
    problems.push(...chainProblems(row.subscriber_id, trail, row.state));
  }
  for (const a of d.audit) if (!byId.has(a.lifecycle_id)) problems.push(`audit #${a.seq} (${a.type}) names ${a.lifecycle_id}, which has no lifecycle row`);
  for (const c of d.calls) if (c.problem) problems.push(`${c.run}: ${c.problem} (${c.key})`);

  // Targeted: a batch killed before its commit left nothing of itself; one killed after it, all of it.
  for (const note of notes) {
    const committed = note.label.startsWith('atonce.batch:after-commit');
    // A store kill point names the lifecycle whose row was about to be written in the batch.
    const batch = [...new Set([...(note.batch ?? []), ...(note.lifecycle_id ? [note.lifecycle_id] : [])])];
    for (const id of batch) {
      const onDisk = byId.has(id) || d.allocations.some((a) => a.lifecycle_id === id);
      if (committed && !byId.has(id)) problems.push(`${note.label}: ${id} was committed in the killed batch and is gone`);
      if (!committed && onDisk) problems.push(`${note.label}: ${id} was in a batch killed before its commit, yet something of it is on disk`);
    }
    if (!committed && note.label !== 'atonce.batch:before' && batch.length === 0) problems.push(`${note.label}: the kill note names no allocation`);
  }
  // The requests the kill left unanswered, which only a later run's sending again answered.
  // The first run is `scenario-0` (crash-runner.ts names each run by its mode and index).
  const repeated = [...answersOf].filter(([, answers]) => !answers.some((a) => a.run === 'scenario-0' && a.status < 300)).map(([key]) => key);
  return { problems, repeated, states, overlaps: [] };
}
