// The embedded IPAM's blocks as ipam_blocks stores them (migration 018): the lifecycle, the key and
// the time in fewer bytes than their text, read back as the same text. The `ipam_allocations` view
// decodes the same way in SQL; test/services/ipam/embedded-blocks.test.ts holds the two to each other.
import { encodeAt, encodeLifecycleId } from '../../store/audit-codec.ts';
import type { Db } from '../../store/db.ts';
import { nestedOf, nestingRange } from './meeting-range.ts';
import type { MarkedPrefix, NestedBlock } from './port.ts';

const GENERATION = /^(0|[1-9]\d{0,14})$/;
const SUFFIX = ':allocate:';

let last: { id: string; stored: string | Buffer } = { id: '', stored: '' };

/**
 * A lowercase UUID as its 16 bytes, anything else as it is (as audit_log stores it). An allocation
 * encodes its lifecycle twice in a row (the lookup under its key, then the insert): the last is kept.
 */
export function encodeLifecycle(id: string): string | Buffer {
  if (id !== last.id) last = { id, stored: encodeLifecycleId(id) };
  return last.stored;
}

/** The stored lifecycle id back as its text. */
export function decodeLifecycle(stored: string | Buffer): string {
  if (typeof stored === 'string') return stored;
  const hex = stored.toString('hex');
  return `${hex.slice(0, 8)}-${hex.slice(8, 12)}-${hex.slice(12, 16)}-${hex.slice(16, 20)}-${hex.slice(20)}`;
}

/**
 * A key as stored beside its lifecycle: the generation alone (a BigInt: better-sqlite3 binds a
 * number as a REAL) when the key is the lifecycle's `<id>:allocate:<generation>`, as every step
 * key is (machines/steps.ts stepKey); any other key as its text.
 */
export function encodeKey(key: string, lifecycleId: string): bigint | string {
  const rest = key.startsWith(lifecycleId + SUFFIX) ? key.slice(lifecycleId.length + SUFFIX.length) : null;
  return rest !== null && GENERATION.test(rest) ? BigInt(rest) : key;
}

/** The stored key back as its text. */
export function decodeKey(stored: number | bigint | string, lifecycleId: string): string {
  return typeof stored === 'string' ? stored : `${lifecycleId}${SUFFIX}${stored}`;
}

/**
 * Where else a key could be held: `<x>:allocate:<n>` read as lifecycle x's generation n (x before
 * the last `:allocate:`, as the view's insert reads it since migration 019: a generation is digits
 * only, so no other split gives one, and x may hold `:allocate:` itself). A key of another lifecycle's form stored by
 * this one is kept as text; this finds the block the other lifecycle holds under the same text.
 */
export function keyAsAnothers(key: string): { lifecycleId: string; generation: bigint } | null {
  const at = key.lastIndexOf(SUFFIX);
  if (at < 0) return null;
  const rest = key.slice(at + SUFFIX.length);
  return GENERATION.test(rest) ? { lifecycleId: key.slice(0, at), generation: BigInt(rest) } : null;
}

/** An allocation's time as stored: milliseconds (BigInt) of a clock's reading or of a toISOString() text, else the text. */
export const encodeAllocatedAt = (at: string | number): string | bigint => (typeof at === 'number' ? BigInt(at) : encodeAt(at));

/** A block of a key: what allocate() and adopt() compare a repeated command with. */
export interface HeldBlock {
  pool: string;
  prefix: string;
  prefix_length: number;
  lifecycle_id: string;
}

/** A block as written: every column as its text, encoded here. */
export interface NewBlock extends HeldBlock {
  start_hex: string;
  end_hex: string;
  key: string;
  subscriber_id: string;
  /** A toISOString() text, or milliseconds since 1970 (the IPAM's clock). */
  allocated_at: string | number;
}

type Stored = Omit<HeldBlock, 'lifecycle_id'> & { lifecycle_id: string | Buffer };
type Listed = { pool: string; prefix: string; lifecycle_id: string | Buffer; key_gen: number | bigint | string; start_hex: string };
type Position = { pool: string; start_hex: string };
type Nesting = { prefix: string; start_hex: string; end_hex: string; lifecycle_id: string | Buffer };

export function createBlocks(db: Db) {
  const byGeneration = db.prepare<{ lifecycle_id: string | Buffer; key_gen: bigint }, Stored>(
    'SELECT pool, prefix, prefix_length, lifecycle_id FROM ipam_blocks WHERE lifecycle_id = @lifecycle_id AND key_gen = @key_gen',
  );
  // The partial index ipam_blocks_other_key serves it: its WHERE is the index's.
  const byOtherKey = db.prepare<{ key: string }, Stored>(
    "SELECT pool, prefix, prefix_length, lifecycle_id FROM ipam_blocks WHERE typeof(key_gen) = 'text' AND key_gen = @key",
  );
  const insert = db.prepare(
    `INSERT INTO ipam_blocks (pool, start_hex, end_hex, prefix, prefix_length, lifecycle_id, key_gen, subscriber_id, allocated_at)
     VALUES (@pool, @start_hex, @end_hex, @prefix, @prefix_length, @lifecycle_id, @key_gen, @subscriber_id, @allocated_at)`,
  );
  const deleteOwn = db.prepare<{ pool: string; start_hex: string; prefix_length: number; lifecycle_id: string | Buffer }>(
    'DELETE FROM ipam_blocks WHERE pool = @pool AND start_hex = @start_hex AND prefix_length = @prefix_length AND lifecycle_id = @lifecycle_id',
  );
  const holderOf = db.prepare<Position, { lifecycle_id: string | Buffer }>('SELECT lifecycle_id FROM ipam_blocks WHERE pool = @pool AND start_hex = @start_hex');
  const nestingOf = db.prepare<{ pool: string; first_hex: string; last_hex: string }, Nesting>(
    nestingRange('ipam_blocks', { pool: '@pool', first: '@first_hex', last: '@last_hex' }),
  );
  const all = db.prepare<[], Listed>('SELECT pool, prefix, lifecycle_id, key_gen, start_hex FROM ipam_blocks ORDER BY pool, start_hex');
  // Keyset pages in (pool, start_hex) order: the primary key serves each from where the last ended.
  const page = db.prepare<Position & { limit: number }, Listed>(
    'SELECT pool, prefix, lifecycle_id, key_gen, start_hex FROM ipam_blocks WHERE (pool, start_hex) > (@pool, @start_hex) ORDER BY pool, start_hex LIMIT @limit',
  );
  // Whether any key of the other form may be stored: normally none ever is, and the allocation's hot
  // path then skips looking for one. Only ever set (a rolled-back insert leaves it set: a lookup more).
  // Another connection (an operator's sqlite3 through the view) may store one: its commit changes
  // this connection's data_version, and the flag is read again then.
  const anyOtherKey = db.prepare("SELECT 1 FROM ipam_blocks WHERE typeof(key_gen) = 'text' LIMIT 1").pluck();
  const dataVersion = db.prepare('PRAGMA data_version').pluck();
  let seen = dataVersion.get();
  let otherKeys = anyOtherKey.get() !== undefined;
  const otherKeysMayBeStored = (): boolean => {
    if (otherKeys) return true;
    const now = dataVersion.get();
    if (now !== seen) [seen, otherKeys] = [now, anyOtherKey.get() !== undefined];
    return otherKeys;
  };
  const nested = (r: Nesting): NestedBlock => ({ prefix: r.prefix, lifecycleId: decodeLifecycle(r.lifecycle_id) });
  const marked = (r: Listed): MarkedPrefix => {
    const lifecycleId = decodeLifecycle(r.lifecycle_id);
    return { pool: r.pool, prefix: r.prefix, lifecycleId, key: decodeKey(r.key_gen, lifecycleId) };
  };

  return {
    /**
     * The block held under a key, whichever lifecycle holds it: under this lifecycle's generation,
     * as a key's text, or (a key of another lifecycle's form) under that one's generation. One key
     * is one block, as the UNIQUE (key) of the table before migration 018 made it.
     */
    byKey(key: string, lifecycleId: string): HeldBlock | undefined {
      const mine = encodeKey(key, lifecycleId);
      const another = typeof mine === 'string' ? keyAsAnothers(key) : null;
      const row =
        (typeof mine === 'bigint' ? byGeneration.get({ lifecycle_id: encodeLifecycle(lifecycleId), key_gen: mine }) : undefined) ??
        (typeof mine === 'string' || otherKeysMayBeStored() ? byOtherKey.get({ key }) : undefined) ??
        (another && another.lifecycleId !== lifecycleId
          ? byGeneration.get({ lifecycle_id: encodeLifecycle(another.lifecycleId), key_gen: another.generation })
          : undefined);
      return row && { ...row, lifecycle_id: decodeLifecycle(row.lifecycle_id) };
    },
    insert(b: NewBlock): void {
      const keyGen = encodeKey(b.key, b.lifecycle_id);
      if (typeof keyGen === 'string') otherKeys = true;
      insert.run({
        pool: b.pool,
        start_hex: b.start_hex,
        end_hex: b.end_hex,
        prefix: b.prefix,
        prefix_length: b.prefix_length,
        lifecycle_id: encodeLifecycle(b.lifecycle_id),
        key_gen: keyGen,
        subscriber_id: b.subscriber_id,
        allocated_at: encodeAllocatedAt(b.allocated_at),
      });
    },
    /** Whether the lifecycle held the block (and it is deleted now). */
    deleteOwn: (pool: string, startHex: string, prefixLength: number, lifecycleId: string): boolean =>
      deleteOwn.run({ pool, start_hex: startHex, prefix_length: prefixLength, lifecycle_id: encodeLifecycle(lifecycleId) }).changes > 0,
    /** The lifecycle holding the block that starts there. */
    holderOf(pool: string, startHex: string): string | undefined {
      const row = holderOf.get({ pool, start_hex: startHex });
      return row && decodeLifecycle(row.lifecycle_id);
    },
    /** The blocks that hold [first, last] or lie inside it, other than one that is exactly it (NESTED_LIMIT at most). */
    nesting(pool: string, firstHex: string, lastHex: string): NestedBlock[] {
      return nestedOf(nestingOf.all({ pool, first_hex: firstHex, last_hex: lastHex }), firstHex, lastHex).map(nested);
    },
    all: (): MarkedPrefix[] => all.all().map(marked),
    /** A page after a position, and the position it ends at (null: the last page). */
    page(after: Position, limit: number): { marked: MarkedPrefix[]; last: Position | null } {
      const rows = page.all({ ...after, limit });
      const last = rows.at(-1);
      return { marked: rows.map(marked), last: rows.length === limit && last ? { pool: last.pool, start_hex: last.start_hex } : null };
    },
  };
}
