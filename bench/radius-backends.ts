// Revocation latency with each RADIUS SQL backend: the real service revoking active lifecycles
// whose radreply rows sit in SQLite (the worker-thread store), MariaDB or PostgreSQL (pooled
// clients), one revocation at a time, from the request to `revoked`. The servers are the tests'
// throw-away ones (test/support), skipped with a note when not installed.
import Database from 'better-sqlite3';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { performance } from 'node:perf_hooks';
import pino from 'pino';
import { openRadiusReplies, type ClosableReplyPort } from '../services/radius/backends.ts';
import { radiusConfigSchema, shippedSchemaFile } from '../services/radius/config.ts';
import type { SqlServer } from '../test/support/freeradius.ts';
import { mariadbForFreeRadius, mariadbUnavailable, sharedMariaDb } from '../test/support/mariadb.ts';
import { postgresForFreeRadius, sharedRadiusPostgres } from '../test/support/radius-postgres.ts';
import { composeBench, scratchDir } from './support.ts';

const WAIT_MS = 60_000;

export interface BackendLatency {
  backend: string;
  revocations: number;
  p50Ms: number;
  p99Ms: number;
}

const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))]!;

async function measure(backend: string, store: ClosableReplyPort, count: number): Promise<BackendLatency> {
  const b = await composeBench({ ports: { replies: store } });
  try {
    const service = b.c.service;
    for (let i = 0; i < count; i++) {
      await service.allocate({ subscriber_id: `r-${i}` }, WAIT_MS);
      await service.activate({ subscriber_id: `r-${i}`, username: `radius-${i}`, cpe_id: `cpe-${i}` }, WAIT_MS);
    }
    const ms: number[] = [];
    for (let i = 0; i < count; i++) {
      const t0 = performance.now();
      await service.revoke({ subscriber_id: `r-${i}`, reason: 'bench' }, WAIT_MS);
      ms.push(performance.now() - t0);
    }
    ms.sort((x, y) => x - y);
    return { backend, revocations: count, p50Ms: quantile(ms, 0.5), p99Ms: quantile(ms, 0.99) };
  } finally {
    await b.close();
    await store.close();
  }
}

async function server(backend: 'postgresql' | 'mysql', s: SqlServer): Promise<ClosableReplyPort> {
  const cfg = radiusConfigSchema.parse({ sql: { backend, host: s.host, port: s.port, database: s.database, user: s.user, password_env: 'BENCH_DB_PW' } });
  return openRadiusReplies(cfg, pino({ level: 'silent' }), { BENCH_DB_PW: s.password });
}

/** p50/p99 of one revocation per backend; `skipped` names the backends that could not run here. */
export async function benchRadiusBackends(count: number): Promise<{ results: BackendLatency[]; skipped: string[] }> {
  const results: BackendLatency[] = [];
  const skipped: string[] = [];
  const scratch = scratchDir();
  try {
    const file = join(scratch.dir, 'radius.sqlite');
    const db = new Database(file);
    db.exec(readFileSync(shippedSchemaFile('sqlite'), 'utf8'));
    db.close();
    results.push(await measure('sqlite', await openRadiusReplies(radiusConfigSchema.parse({ sql: { path: file } }), pino({ level: 'silent' })), count));
  } finally {
    scratch.remove();
  }
  if (mariadbUnavailable() === null) {
    results.push(await measure('mysql (MariaDB)', await server('mysql', await mariadbForFreeRadius()), count));
    await (await sharedMariaDb()).stop();
  } else skipped.push('mysql');
  try {
    const pg = await postgresForFreeRadius();
    results.push(await measure('postgresql', await server('postgresql', pg), count));
    await (await sharedRadiusPostgres()).cluster.stop();
  } catch (err) {
    skipped.push(`postgresql (${(err as Error).message.split('\n')[0]})`);
  }
  return { results, skipped };
}
