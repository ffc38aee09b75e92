// Counts the statements a pg.Pool's clients send, for tests of round trips: each statement is one
// round trip to the server, and under an IPAM pool's row lock each one serializes the instances.
import type pg from 'pg';

/** The statements sent since `reset()` (their text, in order). Install before the pool's first query. */
export interface StatementLog {
  readonly sent: string[];
  reset(): void;
}

export function countStatements(pool: pg.Pool): StatementLog {
  const sent: string[] = [];
  // pool.query() checks a client out too: wrapping each client as it connects sees every statement.
  pool.on('connect', (client) => {
    const query = client.query.bind(client) as (...args: unknown[]) => unknown;
    (client as { query: unknown }).query = (...args: unknown[]) => {
      const first = args[0];
      sent.push(typeof first === 'string' ? first : String((first as { text?: string }).text));
      return query(...args);
    };
  });
  return { sent, reset: () => void sent.splice(0) };
}
