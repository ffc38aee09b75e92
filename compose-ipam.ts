// The IPAM port the configuration names (or the one a test puts in its place), for the composition
// root (compose.ts): the embedded IPAM (in the SQLite file, or in PostgreSQL for several instances),
// NetBox, one per pool behind the router, and the draining pools (removed from the configuration,
// still in use) and their routes to whichever IPAM still holds their prefixes.
import type { Logger } from 'pino';
import type { Config } from './config.ts';
import type { IpamKind } from './machines/types.ts';
import { limitPort, PEER_METHODS } from './runtime/peer-limits.ts';
import { createEmbeddedIpam } from './services/ipam/embedded.ts';
import { createPgEmbeddedIpam } from './services/ipam/embedded-pg.ts';
import type { IpamPort } from './services/ipam/port.ts';
import { createIpamRouter } from './services/ipam/router.ts';
import { createNetboxIpam } from './services/netbox/netbox.ts';
import type { OpenedStore } from './store/open.ts';
import { createPoolUse, type DrainingPool } from './store/pool-use.ts';

export async function buildIpam(
  config: Config,
  opened: OpenedStore,
  log: Logger,
  env: NodeJS.ProcessEnv,
  draining: DrainingPool[],
  users: (pool: string) => { lifecycles: number; blocks: number },
  override: { ipam?: IpamPort; ipamKind?: IpamKind } = {},
): Promise<IpamPort> {
  // An override standing in for NetBox gets NetBox's limit, as the other peers' ports do theirs.
  if (override.ipam) return override.ipamKind === 'netbox' ? limitPort(override.ipam, PEER_METHODS.ipam, config.limits.netbox.concurrency) : override.ipam;
  const embeddedPools = config.pools
    .filter((p) => !p.netbox)
    .map((p) => ({ name: p.name, prefix: p.prefix, prefixLength: p.prefix_length, holdDownS: p.hold_down_s, sticky: p.sticky }));
  const netboxPools = config.pools.flatMap((p) =>
    p.netbox ? [{ name: p.name, prefix: p.prefix, prefixLength: p.prefix_length, netbox: p.netbox, holdDownS: p.hold_down_s, sticky: p.sticky }] : [],
  );
  const byPool = new Map<string, IpamPort>();
  const drainsIn = (kind: IpamKind) => draining.some((d) => d.ipams.includes(kind));
  // A draining pool's blocks are given back by the embedded IPAM even when no configured pool is embedded.
  // On PostgreSQL the embedded IPAM's pools are in the same database, shared by every instance.
  const embedded =
    embeddedPools.length || drainsIn('embedded')
      ? opened.sqlite
        ? createEmbeddedIpam(opened.sqlite.db, embeddedPools, { log })
        : await createPgEmbeddedIpam(opened.postgresql!.pool, embeddedPools, { log })
      : null;
  for (const p of embeddedPools) byPool.set(p.name, embedded!);
  const netbox =
    config.netbox && (netboxPools.length || drainsIn('netbox'))
      ? limitPort(createNetboxIpam(config.netbox, netboxPools, log, { env }), PEER_METHODS.ipam, config.limits.netbox.concurrency)
      : null;
  for (const p of netboxPools) byPool.set(p.name, netbox!);
  const orphaned = draining.filter((d) => d.ipams.includes('netbox') && !netbox);
  if (orphaned.length) {
    // Nothing could give those prefixes back: refuse to start rather than fail every revocation.
    const which = orphaned.map((d) => `"${d.name}" (${d.lifecycles} live lifecycle(s))`).join(', ');
    throw new Error(`pools ${which} hold prefixes in NetBox, but the configuration has no netbox section: restore it until they are revoked`);
  }
  const routes = draining.map((d) => ({
    name: d.name,
    prefix: d.prefix ?? '',
    prefixLength: d.prefixLength,
    ipams: d.ipams.flatMap((k) => (k === 'embedded' && embedded ? [embedded] : k === 'netbox' && netbox ? [netbox] : [])),
  }));
  return createIpamRouter(byPool, { pools: routes, users });
}

/**
 * The pools removed from the configuration that lifecycles or blocks still use (each one warned
 * about), and how many use each.
 */
export async function drainingPools(opened: OpenedStore, configured: ReadonlySet<string>, log: Logger) {
  const { port, sqlite } = opened;
  const draining = await port.poolUse.draining(configured);
  // How many still use a draining pool, asked synchronously (the router, the refusal's message):
  // SQLite answers at once; on PostgreSQL the last figure read, refreshed in the background.
  const poolUsers = sqlite ? createPoolUse(sqlite.db).users : await cachedPoolUsers(port, draining);
  for (const d of draining) {
    log.warn(
      { pool: d.name, lifecycles: d.lifecycles, ipam: d.ipams },
      'pool removed from the configuration is still in use: draining (no new allocations; revocation, suspension and release work)',
    );
  }
  return { draining, poolUsers };
}

/**
 * `users(pool)` for the draining pools on PostgreSQL: the figures read at start, each refreshed in
 * the background at most once a second when asked for (a stale count only words a message, and
 * holds the pool's route until the next refresh).
 */
async function cachedPoolUsers(port: OpenedStore['port'], draining: readonly DrainingPool[]) {
  const known = new Map<string, { lifecycles: number; blocks: number }>();
  const readAt = new Map<string, number>();
  for (const d of draining) known.set(d.name, await port.poolUse.users(d.name));
  return (pool: string) => {
    const at = readAt.get(pool) ?? 0;
    if (Date.now() - at >= 1000) {
      readAt.set(pool, Date.now());
      void port.poolUse.users(pool).then(
        (u) => void known.set(pool, u),
        () => undefined,
      );
    }
    return known.get(pool) ?? { lifecycles: 0, blocks: 0 };
  };
}
