// The service composed on FreeRADIUS's PostgreSQL or MariaDB (radius.sql.backend postgresql / mysql),
// with the embedded IPAM and no CPE or NAS: what the reconciliation and the import read and repair
// there, end to end. Each call gets a fresh FreeRADIUS database on the shared throw-away server.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { suite, type Test } from 'uvu';
import { compose, type Composed } from '../../compose.ts';
import { parseConfig } from '../../config.ts';
import type { SqlServer } from './freeradius.ts';
import { mariadbAvailable, mariadbForFreeRadius } from './mariadb.ts';
import { postgresForFreeRadius, radiusPostgresAvailable } from './radius-postgres.ts';

export interface RadiusSqlServer {
  name: string;
  /** False (with a banner, or a failing suite under CI=true) when the server cannot run here. */
  available(suiteName: string): boolean;
  open(): Promise<SqlServer>;
}

export const RADIUS_SQL_SERVERS: RadiusSqlServer[] = [
  { name: 'PostgreSQL', available: radiusPostgresAvailable, open: postgresForFreeRadius },
  { name: 'MariaDB', available: mariadbAvailable, open: mariadbForFreeRadius },
];

export interface RadiusSqlService {
  composed: Composed;
  server: SqlServer;
  /** Rows of a back-door query, each split at tabs (psql's and mariadb's batch output). */
  rows(sql: string): string[][];
  close(): Promise<void>;
}

/**
 * One suite per server that can run here (`title(server name)`), each test given a fresh service
 * on it (`ctx.f`); call `.run()` on each after adding the tests.
 */
export function radiusSqlSuites(title: (server: string) => string): Test<{ f: RadiusSqlService }>[] {
  return RADIUS_SQL_SERVERS.flatMap((backend) => {
    const name = title(backend.name);
    if (!backend.available(name)) return [];
    const test = suite<{ f: RadiusSqlService }>(name, {} as { f: RadiusSqlService });
    test.before.each(async (ctx) => {
      ctx.f = await startRadiusSqlService(backend.open);
    });
    test.after.each(async (ctx) => {
      await ctx.f?.close();
    });
    return [test];
  });
}

export const POOL = { name: 'residential', prefix: '2001:db8::/40', prefix_length: 56 };

/** A started service whose radius.sql is a fresh FreeRADIUS database on `server`. */
export async function startRadiusSqlService(open: () => Promise<SqlServer>): Promise<RadiusSqlService> {
  const server = await open();
  const dir = mkdtempSync(join(tmpdir(), 'radius-sql-service-'));
  const composed = await compose(
    parseConfig({
      database: join(dir, 'lifecycle.sqlite'),
      pools: [POOL],
      retry: { attempts: 2, base_ms: 1, max_ms: 5 },
      radius: {
        sql: { backend: server.dialect, host: server.host, port: server.port, database: server.database, user: server.user, password_env: 'RADIUS_DB_PW', connect_timeout_ms: 5000 },
      },
    }),
    { log: pino({ level: 'silent' }), env: { IPV6_LIFECYCLE_API_TOKEN: 'radius-sql-token', RADIUS_DB_PW: server.password }, overrides: { cpe: null, sessions: null } },
  );
  await composed.start();
  return {
    composed,
    server,
    rows: (sql) =>
      server
        .run(sql)
        .split('\n')
        .filter((l) => l.length > 0)
        .map((l) => l.split('\t')),
    async close() {
      await composed.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
