// Reads of the shared PostgreSQL database for the several-instances tests: only to check
// invariants (the tests drive the instances through the REST API and never write here). Table and
// column names are those of store/migrations/postgresql/.
import pg from 'pg';

/** A lease (migration 003, per subscriber since 006): who owns the subscriber's work in flight. */
export interface LeaseRow {
  subscriber_id: string;
  owner: string;
  token: number;
  expires_at: Date;
}

export interface AuditRow {
  seq: number;
  lifecycle_id: string;
  type: string;
  from_state: string | null;
  to_state: string;
}

export interface InvariantDb {
  pool: pg.Pool;
  /** Lifecycles that hold a prefix (any state but revoking, whose prefix is in quarantine, and revoked), by lifecycle id → prefix. */
  held(): Promise<Map<string, string>>;
  /** The embedded IPAM's allocations, by lifecycle id → prefixes (more than one is a leak). */
  ipamAllocations(): Promise<Map<string, string[]>>;
  /** The live lifecycle of a subscriber (not revoked), or else its latest. */
  lifecycleOf(subscriberId: string): Promise<{ id: string; state: string; prefix: string | null } | undefined>;
  /** Subscribers with more than one live lifecycle (the unique index should make this empty). */
  subscribersWithTwoLive(): Promise<string[]>;
  lease(subscriberId: string): Promise<LeaseRow | undefined>;
  /** The audit rows of a subscriber's lifecycles, in the order they were written. */
  audit(subscriberId: string): Promise<AuditRow[]>;
  /** Every row of the quarantine (released prefixes) for a lifecycle. */
  quarantined(lifecycleId: string): Promise<{ prefix: string; freed_at: string | null }[]>;
  close(): Promise<void>;
}

export function invariantDb(url: string): InvariantDb {
  const pool = new pg.Pool({ connectionString: url, max: 2 });
  pool.on('error', () => undefined);
  return {
    pool,
    async held() {
      const { rows } = await pool.query<{ id: string; prefix: string }>("SELECT id, prefix FROM lifecycles WHERE state NOT IN ('revoking', 'revoked') AND prefix IS NOT NULL");
      return new Map(rows.map((r) => [r.id, r.prefix]));
    },
    async ipamAllocations() {
      const { rows } = await pool.query<{ lifecycle_id: string; prefix: string }>('SELECT lifecycle_id, prefix FROM ipam_allocations ORDER BY prefix');
      const by = new Map<string, string[]>();
      for (const r of rows) by.set(r.lifecycle_id, [...(by.get(r.lifecycle_id) ?? []), r.prefix]);
      return by;
    },
    async lifecycleOf(subscriberId) {
      const { rows } = await pool.query<{ id: string; state: string; prefix: string | null }>(
        "SELECT id, state, prefix FROM lifecycles WHERE subscriber_id = $1 ORDER BY (state <> 'revoked') DESC, created_at DESC, id DESC LIMIT 1",
        [subscriberId],
      );
      return rows[0];
    },
    async subscribersWithTwoLive() {
      const { rows } = await pool.query<{ subscriber_id: string }>(
        "SELECT subscriber_id FROM lifecycles WHERE state <> 'revoked' GROUP BY subscriber_id HAVING count(*) > 1",
      );
      return rows.map((r) => r.subscriber_id);
    },
    async lease(subscriberId) {
      const { rows } = await pool.query<LeaseRow>('SELECT subscriber_id, owner, token::int AS token, expires_at FROM leases WHERE subscriber_id = $1', [subscriberId]);
      return rows[0];
    },
    async audit(subscriberId) {
      const { rows } = await pool.query<AuditRow>(
        'SELECT seq::int AS seq, lifecycle_id, type, from_state, to_state FROM audit WHERE subscriber_id = $1 ORDER BY seq',
        [subscriberId],
      );
      return rows;
    },
    async quarantined(lifecycleId) {
      const { rows } = await pool.query<{ prefix: string; freed_at: string | null }>('SELECT prefix, freed_at FROM ipam_quarantine WHERE lifecycle_id = $1', [lifecycleId]);
      return rows;
    },
    close: () => pool.end(),
  };
}

/** Every way the store and the embedded IPAM disagree: each prefix held by a lifecycle is IPAM's under it, and nothing more. */
export async function ipamAgreesWithStore(db: InvariantDb): Promise<string[]> {
  const [held, ipam] = await Promise.all([db.held(), db.ipamAllocations()]);
  const problems: string[] = [];
  for (const [id, prefix] of held) {
    const got = ipam.get(id) ?? [];
    if (got.length !== 1 || got[0] !== prefix) problems.push(`lifecycle ${id} holds ${prefix}, IPAM has ${JSON.stringify(got)} under it`);
  }
  for (const [id, prefixes] of ipam) if (!held.has(id)) problems.push(`IPAM has ${prefixes.join(', ')} under ${id}, which holds no prefix`);
  return problems;
}
