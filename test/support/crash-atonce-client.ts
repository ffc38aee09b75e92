// The client side of the at-once crash scenario (crash-atonce-scenario.ts), run inside the crash
// child: the service behind a real HTTP server on an ephemeral port, the scenario's requests sent
// to it with their Idempotency-Keys, and every answer written down (client.sqlite) the moment it
// arrives, so that a SIGKILL right after leaves it on record as heard.
import Database from 'better-sqlite3';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import type { Composed } from '../../compose.ts';
import { AT_ONCE_PHASES, type AtOnceRequest, type Heard } from './crash-atonce-scenario.ts';

export const AT_ONCE_TOKEN = 'crash-token-0123456789abcdef';
const BASE = '/api/v1/network/ipv6';
/** Longer than any operation of the scenario takes: a 202 would mean one did not settle. */
const WAIT_MS = 10_000;

const SCHEMA = `CREATE TABLE IF NOT EXISTS heard (
  seq INTEGER PRIMARY KEY AUTOINCREMENT, run TEXT NOT NULL, subscriber TEXT NOT NULL, op TEXT NOT NULL, key TEXT NOT NULL,
  status INTEGER NOT NULL, lifecycle_id TEXT, prefix TEXT, state TEXT, replayed INTEGER NOT NULL
)`;

/** Serves `c.app` on 127.0.0.1 and sends the whole scenario, phase after phase; resolves once every answer is in. */
export async function runAtOnceClient(c: Composed, log: Logger, file: string, run: string, onPhase: (name: string) => void = () => undefined): Promise<void> {
  const { createHttpServer } = await import('../../http/server.ts');
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  // Each answer is committed on its own: what the client heard must survive a kill a moment later.
  db.pragma('synchronous = FULL');
  db.exec(SCHEMA);
  const insert = db.prepare<Heard>(
    'INSERT INTO heard (run, subscriber, op, key, status, lifecycle_id, prefix, state, replayed) VALUES (@run, @subscriber, @op, @key, @status, @lifecycle_id, @prefix, @state, @replayed)',
  );
  const server = createHttpServer(c.app.callback(), log);
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const send = async (r: AtOnceRequest): Promise<void> => {
    const body = r.op === 'allocate' ? { subscriber_id: r.subscriber } : { subscriber_id: r.subscriber, reason: 'crash test' };
    const res = await fetch(`${origin}${BASE}/${r.op}?wait=${WAIT_MS}`, {
      method: 'POST',
      headers: { authorization: `Bearer ${AT_ONCE_TOKEN}`, 'content-type': 'application/json', 'idempotency-key': r.key },
      body: JSON.stringify(body),
    });
    const answer = (await res.json()) as { lifecycle_id?: string; prefix?: string | null; state?: string; error?: { message: string } };
    insert.run({
      run,
      subscriber: r.subscriber,
      op: r.op,
      key: r.key,
      status: res.status,
      lifecycle_id: answer.lifecycle_id ?? null,
      prefix: answer.prefix ?? null,
      state: answer.state ?? null,
      replayed: res.headers.get('idempotent-replayed') === 'true' ? 1 : 0,
    });
    if (res.status >= 300) throw new Error(`${r.op} ${r.subscriber} answered ${res.status}: ${answer.error?.message ?? JSON.stringify(answer)}`);
  };
  try {
    // A client's connections are open before its burst: otherwise each request of it waits for its
    // own connection, they arrive one turn apart, and no transaction gathers more than one.
    const widest = Math.max(...AT_ONCE_PHASES.map((p) => p.requests.length));
    await Promise.all(Array.from({ length: widest }, () => fetch(`${origin}/healthz`).then((r) => r.arrayBuffer())));
    for (const phase of AT_ONCE_PHASES) {
      onPhase(phase.name);
      await Promise.all(phase.requests.map(send));
    }
  } finally {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    db.close();
  }
}

/** Read side for the parent test. */
export function readHeard(file: string): Heard[] {
  const db = new Database(file, { fileMustExist: true });
  try {
    return db.prepare<[], Heard>('SELECT run, subscriber, op, key, status, lifecycle_id, prefix, state, replayed FROM heard ORDER BY seq').all();
  } finally {
    db.close();
  }
}
