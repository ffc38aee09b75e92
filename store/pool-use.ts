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
  // The pools a table names, one index seek each (a GROUP BY would visit every row: seconds at 10M at start-up).
  const poolsOf = (table: string) => {
    const after = db.prepare<[string], { pool: string }>(`SELECT pool FROM ${table} WHERE pool > ? ORDER BY pool LIMIT 1`);
    return (): string[] => {
      const found: string[] = [];
      for (let at = after.get(''); at; at = after.get(at.pool)) found.push(at.pool);
      return found;
    };
  };
  const pools = poolsOf('lifecycles');
  // Kept by migration 022's triggers: counting the pool's rows was 154 ms at 1,000,000 (issue 10).
  const liveOfPool = db.prepare<[string], { n: number }>("SELECT coalesce((SELECT n FROM lifecycle_counts WHERE key = 'pool:' || ?), 0) AS n");
  // The row's pool is the current prefix's (else the requested one): so is the IPAM named here.
  const kindsOfPool = db.prepare<[string], { ipam: IpamKind | null; prefix_length: number }>(
    `SELECT ${SNAPSHOT_IPAM_SQL} AS ipam, max(prefix_length) AS prefix_length
     FROM lifecycles WHERE pool = ? AND state <> 'revoked' GROUP BY 1`,
  );
  // The pools the embedded IPAM has rows in, by seeks; then, of a pool no longer configured alone,
  // whether it holds blocks (allocated, or quarantined and not yet freed), their longest length and the
  // parent it last knew. One GROUP BY over both tables was 0.65 s at 1,000,000 at every start (issue 10).
  const blockPools = poolsOf('ipam_blocks');
  const quarantinePools = poolsOf('ipam_quarantine');
  const embeddedOfPool = db.prepare<{ pool: string }, { parent: string | null; prefix_length: number | null }>(
    `SELECT (SELECT parent FROM ipam_pools WHERE pool = @pool) AS parent, max(prefix_length) AS prefix_length FROM
       (SELECT prefix_length FROM ipam_blocks WHERE pool = @pool
        UNION ALL SELECT CAST(substr(prefix, instr(prefix, '/') + 1) AS INTEGER) FROM ipam_quarantine WHERE pool = @pool AND freed_at IS NULL)`,
  );
  // Whether any is left, not how many: a count read every block of the pool (180 ms at 1,000,000).
  const embeddedRowsOfPool = db.prepare<{ pool: string }, { n: number }>(
    `SELECT EXISTS (SELECT 1 FROM ipam_blocks WHERE pool = @pool)
         OR EXISTS (SELECT 1 FROM ipam_quarantine WHERE pool = @pool AND freed_at IS NULL) AS n`,
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
      for (const pool of [...new Set([...blockPools(), ...quarantinePools()])].sort()) {
        if (configured.has(pool)) continue;
        const { parent, prefix_length } = embeddedOfPool.get({ pool })!;
        if (prefix_length !== null) tally.embedded(pool, parent, prefix_length);
      }
      return tally.result();
    },

    /** How many live lifecycles still use the pool, and whether embedded blocks not yet freed do (`blocks` 1, else 0). */
    users(pool: string): { lifecycles: number; blocks: number } {
      return { lifecycles: liveOfPool.get(pool)?.n ?? 0, blocks: embeddedRowsOfPool.get({ pool })?.n ?? 0 };
    },
  };
}
