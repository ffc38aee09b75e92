// The store port's write path on each backend: lifecycle snapshots (upsert + audit entry) saved in
// batches of the group commit's size, by `instances` writers on one database, each with its own
// connections; and the embedded IPAM's allocations on PostgreSQL from one and three instances.
// PostgreSQL runs in a throw-away cluster (test/support/postgres.ts) with fsync off: the figures
// are the store's code and round trips, not a disk's.
import { createPgEmbeddedIpam } from '../services/ipam/embedded-pg.ts';
import { openDatabase } from '../store/db.ts';
import type { LifecycleRow } from '../store/lifecycles.ts';
import type { StorePort } from '../store/port.ts';
import { createPgPool, migrate } from '../store/postgresql/pool.ts';
import { openPostgresStore } from '../store/postgresql/store.ts';
import { sqliteStorePort } from '../store/sqlite-port.ts';
import { hasTool } from '../test/support/tools.ts';
import { PG_BIN, startPostgres, type PgCluster } from '../test/support/postgres.ts';

export interface WriteFigures {
  perSecond: number;
  /** 99th percentile of one batch's save, ms. */
  p99Ms: number;
}

const STATES = ['allocated', 'active', 'suspended', 'active', 'revoked'];

function row(id: string, state: string, at: string): LifecycleRow {
  return {
    id, subscriber_id: `sub-${id}`, state, busy: 0, pool: 'bench', prefix: `2001:db8:${id.slice(1)}::/56`, prefix_length: 56,
    netbox_prefix_id: null, username: null, cpe_id: null, allocated_at: at, activated_at: null, suspended_at: null,
    revoked_at: state === 'revoked' ? at : null, created_at: at, updated_at: at, next_pending_at: null, snapshot: '{"v":2}',
  };
}

/** `lifecycles` lifecycles per writer, each through five states, `batch` snapshots per save, writers at once. */
async function writes(stores: StorePort[], lifecycles: number, batch: number): Promise<WriteFigures> {
  const latencies: number[] = [];
  const at = new Date().toISOString();
  const t0 = performance.now();
  await Promise.all(
    stores.map(async (s, w) => {
      for (const state of STATES) {
        for (let i = 0; i < lifecycles; i += batch) {
          const items = [];
          for (let j = i; j < Math.min(lifecycles, i + batch); j++) {
            const r = row(`w${w}x${j.toString(16)}`, state, at);
            items.push({ row: r, audit: { lifecycle_id: r.id, subscriber_id: r.subscriber_id, at, type: state, from_state: null, to_state: state, detail: null } });
          }
          const b0 = performance.now();
          await s.lifecycles.saveBatch(items);
          latencies.push(performance.now() - b0);
        }
      }
    }),
  );
  const ms = performance.now() - t0;
  latencies.sort((a, b) => a - b);
  return { perSecond: Math.round((stores.length * lifecycles * STATES.length * 1000) / ms), p99Ms: latencies[Math.floor(latencies.length * 0.99)] ?? 0 };
}

export async function benchStores(lifecycles: number, batch = 50) {
  const db = openDatabase(':memory:');
  const sqlite = await writes([sqliteStorePort(db, () => db.close())], lifecycles, batch);
  db.close();
  if (!hasTool(`${PG_BIN}/initdb`)) return { sqlite, postgresql: null };
  const cluster: PgCluster = await startPostgres({ max_connections: 100 });
  try {
    const on = async (name: string, instances: number) => {
      const url = await cluster.createDatabase(name);
      const stores = [];
      for (let i = 0; i < instances; i++) stores.push(await openPostgresStore({ url, max: 4 }));
      try {
        return await writes(stores, Math.ceil(lifecycles / instances), batch);
      } finally {
        await Promise.all(stores.map((s) => s.close()));
      }
    };
    const ipam = async (name: string, instances: number, allocations: number) => {
      const url = await cluster.createDatabase(name);
      const dbs = Array.from({ length: instances }, () => createPgPool({ url, max: 8 }));
      try {
        await migrate(dbs[0]!);
        const ipams = await Promise.all(dbs.map((d) => createPgEmbeddedIpam(d, [{ name: 'bench', prefix: '2001:db8::/32', prefixLength: 56 }])));
        const t0 = performance.now();
        await Promise.all(
          Array.from({ length: allocations }, (_, i) => ipams[i % instances]!.allocate({ key: `k${i}`, lifecycleId: `l${i}`, subscriberId: `s${i}`, pool: 'bench', prefixLength: 56 })),
        );
        return Math.round((allocations * 1000) / (performance.now() - t0));
      } finally {
        await Promise.all(dbs.map((d) => d.end()));
      }
    };
    return {
      sqlite,
      postgresql: {
        one: await on('bench_one', 1),
        three: await on('bench_three', 3),
        ipamOne: await ipam('bench_ipam_one', 1, Math.max(100, Math.round(lifecycles / 2))),
        ipamThree: await ipam('bench_ipam_three', 3, Math.max(100, Math.round(lifecycles / 2))),
      },
    };
  } finally {
    await cluster.stop();
  }
}
