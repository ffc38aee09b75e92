// Watches, while a race runs, who holds which prefix: FreeRADIUS's answers to real Access-Requests,
// its radreply table and the service's store, and reports every moment one prefix is on two users.
import Database from 'better-sqlite3';
import type { Db } from '../../store/db.ts';
import type { LifecycleRow } from '../../store/lifecycles.ts';
import { accessRequest } from './radius-client.ts';
import { decodeSnapshot } from '../../store/snapshot-codec.ts';

/** One prefix FreeRADIUS answered for one user, between sending the request and reading the answer. */
export interface Observation {
  user: string;
  attribute: 'Delegated-IPv6-Prefix' | 'Framed-IPv6-Prefix';
  prefix: string;
  sent: number;
  got: number;
}

export interface RaceSampler {
  /** Sampling rounds run so far. */
  rounds(): number;
  /** Access-Requests FreeRADIUS did not answer in time. */
  unanswered: number;
  observations: Observation[];
  /** Each a moment one prefix was on two users or lifecycles, in words. */
  violations: string[];
  /** Users whose prefix may change while they hold rows (an update); they never vouch for a moment. */
  unstable: Set<string>;
  stop(): Promise<void>;
}

export interface SamplerTarget {
  radius: { host: string; port: number; secret: string; dbPath: string };
  password: string;
  /** The service's own database connection: one read is one consistent moment. */
  store: Db;
}

const ATTRS = ['Delegated-IPv6-Prefix', 'Framed-IPv6-Prefix'] as const;

/** Samples in sequential rounds until stop(); every round checks radreply and the store at one instant. */
export function startRaceSampler(t: SamplerTarget): RaceSampler {
  const radreply = new Database(t.radius.dbPath, { readonly: true, fileMustExist: true });
  radreply.pragma('busy_timeout = 2000');
  const replyRows = radreply.prepare<[], { username: string; attribute: string; value: string }>(
    `SELECT username, attribute, value FROM radreply WHERE attribute IN ('Delegated-IPv6-Prefix', 'Framed-IPv6-Prefix')`,
  );
  const liveRows = t.store.prepare<[], LifecycleRow>(
    "SELECT * FROM lifecycles WHERE state <> 'revoked'",
  );
  const s: RaceSampler & { stopped: boolean; n: number } = {
    stopped: false,
    n: 0,
    rounds: () => s.n,
    unanswered: 0,
    observations: [],
    violations: [],
    unstable: new Set(),
    async stop() {
      s.stopped = true;
      await loop;
      radreply.close();
    },
  };

  const twice = (where: string, pairs: Array<[holder: string, prefix: string]>) => {
    const by = new Map<string, string>();
    for (const [holder, prefix] of pairs) {
      const other = by.get(prefix);
      const seen = `${where}: ${prefix} on ${other} and ${holder} at once`;
      if (other !== undefined && other !== holder && !s.violations.includes(seen)) s.violations.push(seen);
      by.set(prefix, holder);
    }
  };

  async function round(): Promise<void> {
    const rows = replyRows.all();
    for (const attribute of ATTRS) twice(`radreply ${attribute}`, rows.filter((r) => r.attribute === attribute).map((r) => [r.username, r.value]));
    twice('store', liveRows.all().flatMap((r) => holdings(r)));
    const users = [...new Set(rows.map((r) => r.username))];
    await Promise.all(
      users.map(async (user) => {
        const sent = performance.now();
        // An answer lost under load claims nothing; any other failure (a bad authenticator) is the test's.
        const a = await accessRequest(t.radius.host, t.radius.port, t.radius.secret, user, t.password).catch((err: Error) => {
          if (!/^no answer from/.test(err.message)) throw err;
          s.unanswered++;
          return null;
        });
        const got = performance.now();
        if (!a) return;
        for (const prefix of a.delegated) s.observations.push({ user, attribute: 'Delegated-IPv6-Prefix', prefix, sent, got });
        for (const prefix of a.framed) s.observations.push({ user, attribute: 'Framed-IPv6-Prefix', prefix, sent, got });
      }),
    );
    s.n++;
  }

  const loop = (async () => {
    while (!s.stopped) {
      await round();
      await new Promise((r) => setImmediate(r));
    }
  })();
  return s;
}

/**
 * The prefixes a stored lifecycle still puts on its subscriber: current and next, unless it is
 * revoked or in the revocation's last step (RADIUS, sessions and CPE have let go; only IPAM's
 * bookkeeping remains, and the next holder may already be on disk first).
 */
function holdings(r: LifecycleRow): Array<[string, string]> {
  const snap = decodeSnapshot(r) as { value: unknown; context?: { current?: { prefix?: string } | null; next?: { prefix?: string } | null } };
  const v = snap.value as Record<string, unknown> | string;
  if (typeof v === 'object' && v !== null && v.revoking === 'free') return [];
  const out = [r.prefix, snap.context?.current?.prefix, snap.context?.next?.prefix].filter((p): p is string => typeof p === 'string');
  return [...new Set(out)].map((p) => [r.subscriber_id, p]);
}

/**
 * Moments FreeRADIUS answered one prefix for two users, from the answers alone. An answer was read
 * somewhen between sending and receiving, so two answers in one round do not prove one moment. A
 * stable user (rows written once, never changed, removed once) who answered P at o1 and again at o2
 * held P all along: another user answering P in a request sent after o1 came back and answered
 * before o2 was sent proves both held it at one moment.
 */
export function sandwiched(observations: Observation[], unstable: Set<string>): string[] {
  const out: string[] = [];
  const byPrefix = new Map<string, Observation[]>();
  for (const o of observations) byPrefix.set(`${o.attribute} ${o.prefix}`, [...(byPrefix.get(`${o.attribute} ${o.prefix}`) ?? []), o]);
  for (const [key, list] of byPrefix) {
    const users = new Set(list.map((o) => o.user));
    if (users.size < 2) continue;
    for (const b of users) {
      if (unstable.has(b)) continue;
      const mine = list.filter((o) => o.user === b);
      const first = Math.min(...mine.map((o) => o.got));
      const last = Math.max(...mine.map((o) => o.sent));
      const inside = list.find((o) => o.user !== b && o.sent > first && o.got < last);
      if (inside) out.push(`FreeRADIUS answered ${key} for ${inside.user} while ${b} held it`);
    }
  }
  return out;
}

/** Prefixes FreeRADIUS answered, at some time, for more than one user: proof the pool was reused. */
export function reused(observations: Observation[]): number {
  const users = new Map<string, Set<string>>();
  for (const o of observations) {
    if (o.attribute !== 'Delegated-IPv6-Prefix') continue;
    users.set(o.prefix, (users.get(o.prefix) ?? new Set()).add(o.user));
  }
  return [...users.values()].filter((u) => u.size > 1).length;
}
