// Leases with fencing tokens (migrations 003, 006): which instance owns a subscriber's work (the
// runtime serializes per subscriber: runtime/ownership.ts). An owner renews its lease while it
// works; once the lease has expired, any instance may take it over, with a new, greater token.
// Every fenced write names the token it holds and locks the lease row for its transaction, so an
// owner that lost its lease (paused, partitioned) writes nothing over the new owner: its write
// either commits before the take-over or is refused after it.
import type pg from 'pg';
import type { SaveItem } from '../lifecycles.ts';
import { writeBatch } from './lifecycles.ts';

/** A lease held: its fencing token, and until when (the database's clock). */
export interface Lease {
  subscriberId: string;
  owner: string;
  token: number;
  expiresAt: Date;
}

/** A fenced write whose token is no longer the lease's: another instance owns the lifecycle now. */
export class FencedError extends Error {
  readonly subscriberIds: string[];
  constructor(subscriberIds: string[]) {
    super(`lease lost: another instance owns ${subscriberIds.join(', ')} now; nothing was written`);
    this.name = 'FencedError';
    this.subscriberIds = subscriberIds;
  }
}

type LeaseRow = { subscriber_id: string; owner: string; token: number; expires_at: Date };
const lease = (r: LeaseRow): Lease => ({ subscriberId: r.subscriber_id, owner: r.owner, token: r.token, expiresAt: r.expires_at });

export interface LeaseStore {
  /**
   * Takes the lifecycle's lease for `ttlMs` when nobody holds it or it has expired (a new token),
   * or extends it when `owner` holds it already (the same token). Null while another owner holds it.
   */
  acquire(subscriberId: string, owner: string, ttlMs: number): Promise<Lease | null>;
  /** Extends a lease still held with this token; false once another instance has taken it over. */
  renew(held: Lease, ttlMs: number): Promise<Lease | null>;
  /** Gives the lease up (work done); a lease taken over meanwhile is left to its new owner. */
  release(held: Lease): Promise<boolean>;
  /**
   * Takes over up to `limit` expired leases for `owner` (FOR UPDATE SKIP LOCKED: instances walking
   * at once share them out, none taken twice); the caller resumes those lifecycles.
   */
  takeOverExpired(owner: string, ttlMs: number, limit: number): Promise<Lease[]>;
  /**
   * Extends every lease still held with its token in one statement; answers those no longer held
   * (taken over after expiring): their owner must stop working on them.
   */
  renewMany(held: readonly Lease[], ttlMs: number): Promise<Lease[]>;
  /**
   * Keys (subscribers) with a lifecycle whose step is in flight and no lease that has not expired:
   * an instance died or stopped while working on them; whoever `acquire`s one resumes it.
   */
  orphans(limit: number): Promise<string[]>;
  /**
   * Stores snapshots, all or none, only while the lease of every item's subscriber still has the
   * item's token (one token per subscriber in a batch: the lease held when it was written).
   */
  saveFenced(items: readonly (SaveItem & { token: number })[]): Promise<void>;
  get(subscriberId: string): Promise<Lease | undefined>;
  /** Whether someone holds the lease and it has not expired (the database's clock). */
  live(key: string): Promise<boolean>;
}

const TTL = "now() + $3 * interval '1 millisecond'";

export function createPgLeaseStore(pool: pg.Pool): LeaseStore {
  return {
    async acquire(subscriberId, owner, ttlMs) {
      const { rows } = await pool.query<LeaseRow>(
        `INSERT INTO leases (subscriber_id, owner, token, expires_at) VALUES ($1, $2, nextval('lease_tokens'), ${TTL})
         ON CONFLICT (subscriber_id) DO UPDATE SET owner = excluded.owner, expires_at = excluded.expires_at,
           token = CASE WHEN leases.owner = excluded.owner AND leases.expires_at > now() THEN leases.token ELSE excluded.token END
         WHERE leases.expires_at <= now() OR leases.owner = excluded.owner
         RETURNING subscriber_id, owner, token, expires_at`,
        [subscriberId, owner, ttlMs],
      );
      return rows[0] ? lease(rows[0]) : null;
    },
    async renew(held, ttlMs) {
      // The token, not the clock, says whether it is still ours: expired but not taken over, it is.
      const { rows } = await pool.query<LeaseRow>(
        `UPDATE leases SET expires_at = ${TTL} WHERE subscriber_id = $1 AND token = $2 RETURNING subscriber_id, owner, token, expires_at`,
        [held.subscriberId, held.token, ttlMs],
      );
      return rows[0] ? lease(rows[0]) : null;
    },
    async release(held) {
      return ((await pool.query('DELETE FROM leases WHERE subscriber_id = $1 AND token = $2', [held.subscriberId, held.token])).rowCount ?? 0) === 1;
    },
    async takeOverExpired(owner, ttlMs, limit) {
      const { rows } = await pool.query<LeaseRow>(
        `WITH due AS (
           SELECT subscriber_id FROM leases WHERE expires_at <= now() ORDER BY expires_at LIMIT $1 FOR UPDATE SKIP LOCKED)
         UPDATE leases AS l SET owner = $2, token = nextval('lease_tokens'), expires_at = ${TTL}
         FROM due WHERE l.subscriber_id = due.subscriber_id
         RETURNING l.subscriber_id, l.owner, l.token, l.expires_at`,
        [limit, owner, ttlMs],
      );
      return rows.map(lease).sort((a, b) => a.token - b.token);
    },
    async renewMany(held, ttlMs) {
      if (held.length === 0) return [];
      const { rows } = await pool.query<{ subscriber_id: string }>(
        `UPDATE leases AS l SET expires_at = now() + $3 * interval '1 millisecond'
         FROM unnest($1::text[], $2::bigint[]) AS h(key, token)
         WHERE l.subscriber_id = h.key AND l.token = h.token RETURNING l.subscriber_id`,
        [held.map((h) => h.subscriberId), held.map((h) => h.token), ttlMs],
      );
      const kept = new Set(rows.map((r) => r.subscriber_id));
      return held.filter((h) => !kept.has(h.subscriberId));
    },
    async orphans(limit) {
      const { rows } = await pool.query<{ subscriber_id: string }>(
        `SELECT DISTINCT l.subscriber_id FROM lifecycles AS l
         WHERE l.busy = 1 AND NOT EXISTS (SELECT 1 FROM leases AS s WHERE s.subscriber_id = l.subscriber_id AND s.expires_at > now())
         LIMIT $1`,
        [limit],
      );
      return rows.map((r) => r.subscriber_id);
    },
    saveFenced: (items) =>
      writeBatch(pool, items, async (c) => {
        const want = new Map<string, number>();
        for (const { row, token } of items) want.set(row.subscriber_id, token);
        // FOR SHARE: a take-over (an UPDATE of the row) waits for this transaction, so the check
        // holds until the commit; fenced writers of other lifecycles do not wait on each other.
        const { rows } = await c.query<{ subscriber_id: string; token: number }>(
          'SELECT subscriber_id, token FROM leases WHERE subscriber_id = ANY($1::text[]) ORDER BY subscriber_id FOR SHARE',
          [[...want.keys()]],
        );
        const held = new Map(rows.map((r) => [r.subscriber_id, r.token]));
        const lost = [...want].filter(([id, token]) => held.get(id) !== token).map(([id]) => id);
        if (lost.length) throw new FencedError(lost);
      }),
    live: async (key) =>
      (await pool.query<{ live: boolean }>('SELECT EXISTS (SELECT 1 FROM leases WHERE subscriber_id = $1 AND expires_at > now()) AS live', [key])).rows[0]!.live,
    get: async (subscriberId) => {
      const { rows } = await pool.query<LeaseRow>('SELECT subscriber_id, owner, token, expires_at FROM leases WHERE subscriber_id = $1', [subscriberId]);
      return rows[0] ? lease(rows[0]) : undefined;
    },
  };
}
