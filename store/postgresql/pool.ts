// The PostgreSQL connection pool and its numbered migrations (store/migrations/postgresql/).
// Bounded: `max` connections per instance, so that N instances need N × max of the server's
// max_connections. Migrations run under an advisory lock, so instances starting together apply
// each one once; the applied versions are rows of schema_migrations.
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import pg from 'pg';

const migrationsDir = join(dirname(fileURLToPath(import.meta.url)), '..', 'migrations', 'postgresql');

/** Any key no other advisory lock of the service uses: "ipv6" + "mig" as one 64-bit number. */
const MIGRATION_LOCK = 0x69707636_6d6967n;

export interface PgPoolOptions {
  url: string;
  /** Connections at most (default 10). */
  max?: number;
  /** How long a query waits for a free connection before it fails (default 10 s). */
  connectionTimeoutMs?: number;
  /** Statement timeout on every connection, so a stuck lock never holds a request forever (default 30 s). */
  statementTimeoutMs?: number;
}

/**
 * How much longer than the statement timeout a query may take before the client gives it up
 * (pg's `query_timeout`): the server's own timeout reports first, this bounds a server that can no
 * longer answer at all (killed, its backends orphaned; a connection silently gone).
 */
const QUERY_TIMEOUT_MARGIN_MS = 5000;

// bigint (count(*), BIGINT columns) as a JS number, as better-sqlite3 returns them; the values the
// store keeps (counts, sequence numbers, NetBox ids) stay far below 2^53.
const types = {
  getTypeParser: ((oid: number, format?: 'text' | 'binary') =>
    oid === pg.types.builtins.INT8 ? (v: string) => Number(v) : pg.types.getTypeParser(oid, format)) as typeof pg.types.getTypeParser,
};

export function createPgPool(o: PgPoolOptions): pg.Pool {
  const pool = new pg.Pool({
    connectionString: o.url,
    max: o.max ?? 10,
    connectionTimeoutMillis: o.connectionTimeoutMs ?? 10_000,
    statement_timeout: o.statementTimeoutMs ?? 30_000,
    query_timeout: (o.statementTimeoutMs ?? 30_000) + QUERY_TIMEOUT_MARGIN_MS,
    types,
  });
  // An idle connection the server dropped (a restart, a failover) must not crash the process; the
  // pool replaces it on the next query.
  pool.on('error', () => undefined);
  return pool;
}

/** The migration files in order, each with its version (the number before the dash). */
export function migrationFiles(): { version: number; file: string }[] {
  return readdirSync(migrationsDir)
    .filter((f) => /^\d{3}-.+\.sql$/.test(f))
    .sort()
    .map((file) => ({ version: Number(file.slice(0, 3)), file }));
}

/** Applies the migrations the database has not seen, each in its own transaction; returns the versions applied. */
export async function migrate(pool: pg.Pool): Promise<number[]> {
  const { client, unguard } = await checkout(pool);
  const done: number[] = [];
  try {
    await client.query('SELECT pg_advisory_lock($1)', [MIGRATION_LOCK.toString()]);
    try {
      await client.query('CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())');
      const { rows } = await client.query<{ version: number }>('SELECT version FROM schema_migrations');
      const applied = new Set(rows.map((r) => r.version));
      for (const { version, file } of migrationFiles()) {
        if (applied.has(version)) continue;
        await client.query('BEGIN');
        try {
          await client.query(readFileSync(join(migrationsDir, file), 'utf8'));
          await client.query('INSERT INTO schema_migrations (version) VALUES ($1)', [version]);
          await client.query('COMMIT');
        } catch (err) {
          await client.query('ROLLBACK');
          throw new Error(`PostgreSQL migration ${file} failed: ${(err as Error).message}`, { cause: err });
        }
        done.push(version);
      }
    } finally {
      await client.query('SELECT pg_advisory_unlock($1)', [MIGRATION_LOCK.toString()]);
    }
  } finally {
    unguard();
    client.release();
  }
  return done;
}

/**
 * A checked-out client has no error listener (pg-pool listens on idle ones only): a connection the
 * server ends meanwhile (a restart, a failover) would emit an uncaught 'error' and end the process.
 * Its query in flight rejects anyway; this listener only keeps the process up. Remove before release.
 */
export function guard(client: pg.ClientBase): () => void {
  const ignore = () => undefined;
  client.on('error', ignore);
  return () => void client.removeListener('error', ignore);
}

/**
 * A client of the pool, guarded (`guard`) from the moment the pool hands it over: `await
 * pool.connect()` would guard it a few microtasks later, after pg has gone on reading the packet
 * that made it ready, and a backend that ends in that same packet (the postmaster SIGKILLed as it
 * started: FATAL 57P01) would emit its 'error' on a client nobody listens to.
 */
export function checkout(pool: pg.Pool): Promise<{ client: pg.PoolClient; unguard: () => void }> {
  return new Promise((resolve, reject) => {
    pool.connect((err, client) => {
      if (err || !client) return reject(err ?? new Error('the pool handed over no client'));
      resolve({ client, unguard: guard(client) });
    });
  });
}

/** Runs `fn` in one transaction on one connection: committed if it resolves, rolled back if it throws. */
export async function inTransaction<T>(pool: pg.Pool, fn: (c: pg.PoolClient) => Promise<T>): Promise<T> {
  const { client, unguard } = await checkout(pool);
  let broken: Error | undefined;
  try {
    await client.query('BEGIN');
    try {
      const out = await fn(client);
      await client.query('COMMIT');
      return out;
    } catch (err) {
      await client.query('ROLLBACK').catch((e: Error) => (broken = e));
      throw err;
    }
  } finally {
    unguard();
    // A connection whose rollback failed is discarded, not reused.
    client.release(broken);
  }
}

/** Deadlocks and serialization failures: the transaction is worth running again as it is. */
export function isRetryable(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === '40P01' || code === '40001';
}

