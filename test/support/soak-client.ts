// The soak test's clients: each one picks a subscriber and an operation (mostly one the state it
// last saw allows, sometimes any), sends it through the REST API with or without an
// Idempotency-Key, and keeps going through faults and kills. A request the kill cut off is sent
// again with its key once the service is back; a 503 is waited out. Every answer is judged: a status
// outside the contract, or a replay that does not answer what the first request answered, is a problem.
import { API_TOKEN, cpeOf, usernameOf } from './soak-peers.ts';
import type { Random } from './soak-random.ts';

const BASE = '/api/v1/network/ipv6';
export const OPS = ['allocate', 'activate', 'suspend', 'reactivate', 'update', 'revoke', 'retry'] as const;
export type OpKind = (typeof OPS)[number];
/** What the contract allows an operation to answer (502: a peer failed after its retries; 503 only while starting). */
const ALLOWED = new Set([200, 201, 202, 404, 409, 502]);

export interface Answer {
  status: number;
  body: any;
  replayed: boolean;
}

/** One request; null when no answer came (the process was killed, or is not listening yet). */
export async function api(origin: string, method: string, path: string, body?: unknown, key?: string): Promise<Answer | null> {
  try {
    const res = await fetch(`${origin}${BASE}/${path}`, {
      method,
      headers: { authorization: `Bearer ${API_TOKEN}`, 'content-type': 'application/json', ...(key ? { 'idempotency-key': key } : {}) },
      body: body === undefined ? undefined : JSON.stringify(body),
      signal: AbortSignal.timeout(20_000),
    });
    const text = await res.text();
    return { status: res.status, body: text ? JSON.parse(text) : null, replayed: res.headers.get('idempotent-replayed') === 'true' };
  } catch {
    return null;
  }
}

/** `api` for a service expected up: throws when no answer came. */
export async function answered(origin: string, method: string, path: string, body?: unknown, key?: string): Promise<Answer> {
  const a = await api(origin, method, path, body, key);
  if (!a) throw new Error(`${method} ${path}: no answer`);
  return a;
}

export interface ClientStats {
  ops: Record<OpKind, number>;
  /** `op status` → count, final answers only. */
  answers: Record<string, number>;
  /** Requests the kill cut off (sent again with their key when they had one). */
  cutOff: number;
  replays: number;
  problems: string[];
}

export function newStats(): ClientStats {
  return { ops: Object.fromEntries(OPS.map((o) => [o, 0])) as Record<OpKind, number>, answers: {}, cutOff: 0, replays: 0, problems: [] };
}

function chooseOp(r: Random, state: string | undefined): OpKind {
  if (r.chance(0.08)) return r.pick(OPS);
  switch (state) {
    case undefined:
    case 'revoked':
      return 'allocate';
    case 'pending':
    case 'revoking':
      return r.weighted({ allocate: 2, revoke: 1 });
    case 'allocated':
      return r.weighted({ activate: 6, revoke: 2, allocate: 1 });
    case 'active':
      return r.weighted({ suspend: 3, update: 3, revoke: 2, activate: 1 });
    case 'suspended':
      return r.weighted({ reactivate: 5, revoke: 3, suspend: 1 });
    default:
      return r.weighted({ retry: 6, revoke: 3 });
  }
}

function bodyOf(op: OpKind, s: string): Record<string, unknown> {
  if (op === 'activate') return { subscriber_id: s, username: usernameOf(s), cpe_id: cpeOf(s) };
  if (op === 'suspend' || op === 'revoke') return { subscriber_id: s, reason: 'soak' };
  return { subscriber_id: s };
}

export interface ClientRun {
  origin: string;
  random: Random;
  name: string;
  subscribers: readonly string[];
  /** The state each subscriber was last seen in, shared by every client. */
  seen: Map<string, string>;
  /** The next operation's number, or null when the budget is spent; the caller may kill or sample at a number. */
  take(): number | null;
  stats: ClientStats;
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));

/** Sends until an answer other than 503 comes; a cut-off request is sent again only when it has a key. */
async function send(run: ClientRun, path: string, body: unknown, key: string | undefined): Promise<Answer | null> {
  let cut = false;
  for (let tries = 0; tries < 400; tries++) {
    const a = await api(run.origin, 'POST', path, body, key);
    if (a && a.status !== 503) return a;
    if (!a) {
      if (!cut) run.stats.cutOff++;
      cut = true;
      if (!key) return null;
    }
    await sleep(50);
  }
  run.stats.problems.push(`${path} ${JSON.stringify(body)}: no answer but 503 or a dropped connection for 20 s`);
  return null;
}

export async function runClient(run: ClientRun): Promise<void> {
  const { random: r, stats } = run;
  for (let n = run.take(); n !== null; n = run.take()) {
    const s = r.pick(run.subscribers);
    const op = chooseOp(r, run.seen.get(s));
    const body = bodyOf(op, s);
    const key = r.chance(0.5) ? `soak-${run.name}-${n}` : undefined;
    stats.ops[op]++;
    const a = await send(run, `${op}?wait=3000`, body, key);
    if (!a) continue;
    const what = `${op} ${s}${key ? ` (key ${key})` : ''}`;
    stats.answers[`${op} ${a.status}`] = (stats.answers[`${op} ${a.status}`] ?? 0) + 1;
    if (!ALLOWED.has(a.status)) stats.problems.push(`op #${n} ${what} answered ${a.status}: ${JSON.stringify(a.body).slice(0, 300)}`);
    if (a.body?.state) run.seen.set(s, a.body.state);
    // A replay answers what the first request answered, whatever happened to the lifecycle since.
    if (key && (a.status === 200 || a.status === 201) && r.chance(0.2)) {
      stats.replays++;
      const again = await send(run, `${op}?wait=3000`, body, key);
      if (!again) continue;
      const same = (x: Answer) => JSON.stringify([x.status, x.body?.lifecycle_id, x.body?.state, x.body?.prefix]);
      if (same(again) !== same(a) || !again.replayed) {
        stats.problems.push(`op #${n} ${what}: the replay answered ${same(again)} (Idempotent-Replayed ${again.replayed}), the first answer was ${same(a)}`);
      }
    }
  }
}
