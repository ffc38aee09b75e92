// Whether an error says the database cannot take the request now (as opposed to a bug in a
// statement), for either backend: what the HTTP layer answers 503 for. No driver is loaded here.
import { isStoreUnavailable } from './db.ts';

/** Connection-level failures: the server is down, restarting, or refusing us (as SQLite's BUSY/IOERR say for a file). */
export function isPgUnavailable(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  if (typeof code === 'string') return /^(08|53|57P0[1-3])/.test(code) || ['ECONNREFUSED', 'ECONNRESET', 'ETIMEDOUT', 'EPIPE'].includes(code);
  // What pg and pg-pool throw of their own carries no code, only these messages (a connection lost,
  // a pool that could not connect in time, `query_timeout`).
  return err instanceof Error && PG_CONNECTION_LOST.test(err.message);
}
const PG_CONNECTION_LOST = /^(Connection terminated|timeout exceeded when trying to connect|Query read timeout|Client has encountered a connection error|Client was closed)/;

/** Why the database cannot serve the request now, as a client is told it; null for any other error. */
export function databaseUnavailable(err: unknown): string | null {
  if (isStoreUnavailable(err)) return 'the database does not take writes now; try again shortly';
  // PostgreSQL out of reach (refused, reset, restarting): the same for the client as a locked file.
  if (isPgUnavailable(err)) return 'the database cannot be reached now; try again shortly';
  return null;
}
