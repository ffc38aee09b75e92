// Opens the configured store: the SQLite file (one process), or PostgreSQL (several instances).
// What the composition root wires either way is `port`; `sqlite` and `postgresql` carry what only
// that backend has (the synchronous store and its file; the pool and the leases).
import type pg from 'pg';
import type { Config } from '../config.ts';
import { openStore, type Db } from './db.ts';
import { createLifecycleStore, type LifecycleStore } from './lifecycles.ts';
import type { StorePort } from './port.ts';
import type { LeaseStore } from './postgresql/leases.ts';
import { openPostgresStore } from './postgresql/store.ts';
import { sqliteStorePort } from './sqlite-port.ts';

export interface OpenedStore {
  port: StorePort;
  sqlite: { db: Db; store: LifecycleStore } | null;
  postgresql: { pool: pg.Pool; url: string; leases: LeaseStore; renewals: Pick<LeaseStore, 'renewMany'> } | null;
  /** The SQLite file was created by this start (a start that fails removes it again). */
  fresh: boolean;
  close(): Promise<void>;
  /** Closes, and removes what this start created (the SQLite file); PostgreSQL keeps its database. */
  discard(): Promise<void>;
}

export async function openConfiguredStore(config: Config, env: NodeJS.ProcessEnv): Promise<OpenedStore> {
  if (config.store.backend === 'sqlite') {
    const opened = openStore(config.database);
    const store = createLifecycleStore(opened.db);
    return {
      port: sqliteStorePort(opened.db),
      sqlite: { db: opened.db, store },
      postgresql: null,
      fresh: opened.fresh,
      close: async () => opened.close(),
      discard: async () => opened.discard(),
    };
  }
  const url = env[config.store.url_env];
  if (!url) throw new Error(`store.backend is postgresql, but ${config.store.url_env} (store.url_env) is not set: it holds the connection URL`);
  let store: Awaited<ReturnType<typeof openPostgresStore>>;
  try {
    store = await openPostgresStore({ url, max: config.store.pool_max });
  } catch (err) {
    // The URL holds a password: the message names the variable, never the URL.
    throw new Error(`could not open the PostgreSQL store at ${where(url)} (${config.store.url_env}): ${redactUrl((err as Error).message, url)}`);
  }
  return {
    port: store,
    sqlite: null,
    postgresql: { pool: store.pool, url, leases: store.leases, renewals: store.renewals },
    fresh: false,
    close: () => store.close(),
    discard: () => store.close(),
  };
}

/** The message without the URL or its password, should a driver have quoted them. */
function redactUrl(message: string, url: string): string {
  let out = message.split(url).join('<url>');
  try {
    const password = decodeURIComponent(new URL(url).password);
    if (password) out = out.split(password).join('<password>');
  } catch {
    // not a URL the WHATWG parser takes: nothing more to hide
  }
  return out;
}

/** Host, port and database of the URL, never its user's password: what a failed start names. */
function where(url: string): string {
  try {
    const u = new URL(url);
    if (u.protocol !== 'postgres:' && u.protocol !== 'postgresql:') return `a URL that is not postgres:// (${u.protocol})`;
    return `${u.hostname || 'localhost'}:${u.port || '5432'}${u.pathname || '/'}`;
  } catch {
    return 'a malformed URL';
  }
}

/**
 * A stand-in for what only SQLite has (its database handle, the synchronous store): on PostgreSQL
 * any use throws, naming it. Tests and tools reach these on SQLite only.
 */
export function sqliteOnly<T extends object>(what: string): T {
  return new Proxy({} as T, {
    get: (_t, key) => {
      if (key === 'then') return undefined;
      throw new Error(`${what} exists on store.backend sqlite only (used: ${String(key)})`);
    },
  });
}
