// Which implementation of the RADIUS ports the configured `radius.sql.backend` gets: SQLite's file
// written from a worker thread, or a pooled PostgreSQL / MySQL(MariaDB) client. Both check the
// database first, so a wrong password, missing tables or a missing grant stop start-up (and
// --check-config) with a message naming the setting to fix.
import type { Logger } from 'pino';
import type { RadiusConfig } from './config.ts';
import type { RadiusReplyPort } from './port.ts';
import { createRadiusReplyWorker } from './reply-worker.ts';
import { openSqlClient } from './sql-client.ts';
import { SqlReplyStore } from './sql-reply-store.ts';
import { checkRadiusTables } from './sql-schema.ts';

export type ClosableReplyPort = RadiusReplyPort & { close(): void | Promise<void> };

/** The reply port for the configured backend, after checking its database. */
export async function openRadiusReplies(config: RadiusConfig, log: Logger, env: NodeJS.ProcessEnv = process.env): Promise<ClosableReplyPort> {
  if (config.sql.backend === 'sqlite') return createRadiusReplyWorker(config, log);
  const child = log.child({ component: 'radius-reply' });
  const client = openSqlClient(config.sql, env);
  try {
    await checkRadiusTables(client, config.sql, child);
  } catch (err) {
    await client.close().catch(() => undefined);
    throw err;
  }
  return new SqlReplyStore(client, { framedPrefix: config.reply.framed_prefix, log: child });
}

/**
 * --check-config for a server backend: logs in, checks the tables (never creates them) and grants, then
 * disconnects. A SQLite file is not opened here (it may not exist yet on the machine that checks).
 */
export async function checkRadiusBackend(config: RadiusConfig, log: Logger, env: NodeJS.ProcessEnv = process.env): Promise<void> {
  const sql = { ...config.sql, create_schema: false };
  if (sql.backend === 'sqlite') return;
  const client = openSqlClient(sql, env);
  try {
    await checkRadiusTables(client, sql, log);
  } finally {
    await client.close().catch(() => undefined);
  }
}
