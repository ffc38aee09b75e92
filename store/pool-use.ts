import type { IpamKind } from '../machines/types.ts';
import type { Db } from './db.ts';
import { SNAPSHOT_IPAM_SQL } from './snapshot-codec.ts';

/** A pool the configuration no longer names that lifecycles or embedded IPAM rows still use. */
export interface DrainingPool {
  name: string;
  /** Its parent as the embedded IPAM last knew it; null for a NetBox pool (its releases go by mark and id, not by parent). */
  prefix: string | null;
  prefixLength: number;
  /** Every IPAM that may hold its prefixes: the ones its lifecycles name, and embedded when it has rows there. */
  ipams: IpamKind[];
  /** Live (not revoked) lifecycles whose prefix is in it. */
  lifecycles: number;
}

/**
 * The draining pools as both dialects gather them: a pool's live lifecycles and the IPAMs they
 * name first, then the embedded IPAM's rows (which also give a parent).
 */
export function drainingTally() {
  const found = new Map<string, DrainingPool & { kinds: Set<IpamKind> }>();
  const entry = (name: string) => {
    let d = found.get(name);
    if (!d) {
      d = { name, prefix: null, prefixLength: 0, ipams: [], lifecycles: 0, kinds: new Set<IpamKind>() };
      found.set(name, d);
    }
    return d;
  };
  return {
    lifecycles(name: string, n: number, kinds: readonly { ipam: IpamKind | null; prefix_length: number }[]): void {
      const d = entry(name);
      d.lifecycles = n;
      for (const k of kinds) {
        if (k.ipam) d.kinds.add(k.ipam);
        if (d.prefixLength === 0) d.prefixLength = k.prefix_length;
      }
    },
    embedded(name: string, parent: string | null, prefixLength: number): void {
      const d = entry(name);
      d.kinds.add('embedded');
      d.prefix ??= parent;
      if (d.prefixLength === 0) d.prefixLength = prefixLength;
    },
    result: (): DrainingPool[] => [...found.values()].map(({ kinds, ...d }) => ({ ...d, ipams: [...kinds].sort() })),
  };
}

/**
 * Which pools are in use, configured or not: read at start-up to find the draining ones, and by the
 * router to tell when a draining pool has no user left. Reads the lifecycles and the embedded IPAM's
 * tables; writes nothing.
 */
export function createPoolUse(db: Db) {
  // The pools lifecycles name, one index seek each (a GROUP BY would visit every row: seconds at 10M at start-up).
  const poolAfter = db.prepare<[string], { pool: string }>('SELECT pool FROM lifecycles WHERE pool > ? ORDER BY pool LIMIT 1');
  const pools = (): string[] => {
    const found: string[] = [];
    for (let at = poolAfter.get(''); at; at = poolAfter.get(at.pool)) found.push(at.pool);
    return found;
  };
  const liveOfPool = db.prepare<[string], { n: number }>("SELECT count(*) AS n FROM lifecycles WHERE pool = ? AND state <> 'revoked'");
  // The row's pool is the current prefix's (else the requested one): so is the IPAM named here.
  const kindsOfPool = db.prepare<[string], { ipam: IpamKind | null; prefix_length: number }>(
    `SELECT ${SNAPSHOT_IPAM_SQL} AS ipam, max(prefix_length) AS prefix_length
     FROM lifecycles WHERE pool = ? AND state <> 'revoked' GROUP BY 1`,
  );
  // Blocks the embedded IPAM holds (allocated, or quarantined and not yet freed) and the parent it last knew.
  const embeddedPools = db.prepare<[], { pool: string; parent: string | null; prefix_length: number }>(
    `SELECT u.pool, p.parent, max(u.prefix_length) AS prefix_length FROM
       (SELECT pool, prefix_length FROM ipam_blocks
        UNION ALL SELECT pool, CAST(substr(prefix, instr(prefix, '/') + 1) AS INTEGER) FROM ipam_quarantine WHERE freed_at IS NULL) AS u
     LEFT JOIN ipam_pools AS p ON p.pool = u.pool GROUP BY u.pool`,
  );
  const embeddedRowsOfPool = db.prepare<[string, string], { n: number }>(
    'SELECT (SELECT count(*) FROM ipam_blocks WHERE pool = ?) + (SELECT count(*) FROM ipam_quarantine WHERE pool = ? AND freed_at IS NULL) AS n',
  );

  return {
    /** The pools in use that `configured` does not name, by name. */
    draining(configured: ReadonlySet<string>): DrainingPool[] {
      const tally = drainingTally();
      for (const pool of pools()) {
        if (configured.has(pool)) continue;
        const n = liveOfPool.get(pool)?.n ?? 0;
        if (n > 0) tally.lifecycles(pool, n, kindsOfPool.all(pool));
      }
      for (const { pool, parent, prefix_length } of embeddedPools.all()) if (!configured.has(pool)) tally.embedded(pool, parent, prefix_length);
      return tally.result();
    },

    /** How many live lifecycles, and embedded blocks not yet freed, still use the pool. */
    users(pool: string): { lifecycles: number; blocks: number } {
      return { lifecycles: liveOfPool.get(pool)?.n ?? 0, blocks: embeddedRowsOfPool.get(pool, pool)?.n ?? 0 };
    },
  };
}
