// Which field reader the configured `radius.sql.backend` gets. Each reads on a connection of its
// own, never the reply writer's: a walk of a million users must not queue the lifecycle's writes.
import type { Logger } from 'pino';
import { sqliteSettings, type RadiusConfig } from '../radius/config.ts';
import { openSqlClient } from '../radius/sql-client.ts';
import { openRadiusSqlite } from '../radius/sqlite.ts';
import { createRadiusFieldReader, type RadiusFieldReader } from './radius.ts';
import { createSqlRadiusFieldReader } from './radius-sql.ts';

/**
 * Opens the configured FreeRADIUS database for reading the field: the SQLite file, or a pool of one
 * connection to PostgreSQL or MySQL/MariaDB (it connects at the first read; the pages are read one
 * after another). close() it.
 */
export function openRadiusField(config: RadiusConfig, log: Logger, env: NodeJS.ProcessEnv = process.env): RadiusFieldReader {
  if (config.sql.backend !== 'sqlite') return createSqlRadiusFieldReader(openSqlClient({ ...config.sql, pool_size: 1 }, env), log.child({ component: 'radius-field' }));
  return createRadiusFieldReader(openRadiusSqlite(sqliteSettings(config.sql), log.child({ component: 'radius-field' })));
}
