// The leader among instances for singleton work (clean-up, leak detection, reconciliation, fleet
// metrics): whoever holds a session-level advisory lock. The lock lives on one dedicated
// connection, not the pool's (a pooled connection would carry it to whatever query runs next):
// when the leader dies or its connection drops, the server releases it and another instance's
// next try takes it. A leader checks on every tick that its connection still holds the lock, and
// steps down on the first failure (a partition it cannot see otherwise). A leader that stops
// ticking (frozen) loses its session to the server's idle_session_timeout.
import pg from 'pg';

/** "ipv6" + "ldr": the leader's advisory lock key, distinct from the migrations'. */
export const LEADER_LOCK = 0x69707636_6c6472n;

export interface LeaderOptions {
  url: string;
  /** How often a follower tries and a leader checks (default 1 s): the longest take-over delay after a drop. */
  intervalMs?: number;
  /** Told on every change, true on becoming leader and false on stepping down. */
  onChange?(leader: boolean): void;
  key?: bigint;
}

export interface Leader {
  readonly isLeader: boolean;
  /** Steps down (unlocks) and closes the connection. */
  stop(): Promise<void>;
}

export function startLeaderElection(o: LeaderOptions): Leader {
  const key = (o.key ?? LEADER_LOCK).toString();
  const interval = o.intervalMs ?? 1000;
  let client: pg.Client | null = null;
  let leader = false;
  let stopped = false;
  let timer: NodeJS.Timeout | null = null;
  let running: Promise<void> = Promise.resolve();
  const set = (v: boolean) => {
    if (v === leader) return;
    leader = v;
    o.onChange?.(v);
  };
  const drop = async () => {
    const c = client;
    client = null;
    set(false);
    await c?.end().catch(() => undefined);
  };
  const tick = async () => {
    try {
      if (!client) {
        const c = new pg.Client({ connectionString: o.url, keepAlive: true });
        c.on('error', () => void drop());
        await c.connect();
        // A leader frozen (SIGSTOP, a hung event loop) keeps its connection open and the lock with
        // it; its ticks stop, so the server ends the idle session after a few intervals and another
        // candidate leads. Needs PostgreSQL 14; an older server keeps the lock until the connection drops.
        await c.query(`SET idle_session_timeout = ${Math.max(3 * interval, 1000)}`).catch(() => undefined);
        client = c;
      }
      if (!leader) {
        const { rows } = await client.query<{ got: boolean }>('SELECT pg_try_advisory_lock($1) AS got', [key]);
        set(rows[0]!.got);
      } else {
        const { rows } = await client.query<{ held: boolean }>(
          `SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() AND granted
             AND objsubid = 1 AND ((classid::bigint << 32) | objid::bigint) = $1::bigint) AS held`,
          [key],
        );
        if (!rows[0]!.held) set(false);
      }
    } catch {
      await drop();
    }
    if (!stopped) timer = setTimeout(() => void (running = tick()), interval);
  };
  running = tick();
  return {
    get isLeader() {
      return leader;
    },
    async stop() {
      stopped = true;
      if (timer) clearTimeout(timer);
      await running;
      if (client && leader) await client.query('SELECT pg_advisory_unlock($1)', [key]).catch(() => undefined);
      await drop();
    },
  };
}
