// The embedded IPAM on PostgreSQL, for several instances on one database: the algorithm of
// embedded.ts (first fit over maximal free runs, quarantine, hold-down, sticky blocks) in
// PostgreSQL's dialect. Every write of a pool runs in one transaction that first locks the pool's
// ipam_pools row (SELECT … FOR UPDATE): instances allocate from one pool one at a time, as SQLite's
// BEGIN IMMEDIATE makes processes do, and pools do not wait on one another. The exclusion
// constraints of migration 004 refuse an overlapping block whatever happens.
import type pg from 'pg';
import { inTransaction, isRetryable } from '../../store/postgresql/pool.ts';
import { isPgUnavailable } from '../../store/unavailable.ts';
import { ServiceError } from '../errors.ts';
import { blockSize, contains, formatPrefix, fromHex, lastAddress, parsePrefix, subnetCount, toHex, type Ipv6Prefix } from '../ipv6.ts';
import { holdDownsOf } from './embedded-quarantine.ts';
import { carveAndInsert, fitIn, lookUpOrTake, RUN_PAGE } from './embedded-pg-allocate.ts';
import { pgPoolCounts as counts } from './embedded-pg-counts.ts';
import * as free from './embedded-pg-free.ts';
import { HELD_BESIDES_EXPIRED, HOLDER_IN_RANGE, othersHeld, TAKE_EXPIRED_IN } from './embedded-pg-meeting.ts';
import { pgQuarantine } from './embedded-pg-quarantine.ts';
import { checkAdopt, checkAllocate, checkPools, checkSameAllocation, ALLOCATION_GIVE_BACK, exhausted, sweepLater, SWEEP_BATCH, taken, warnIfMoved, type EmbeddedIpamOptions, type EmbeddedPool, type Pool, type Sweeping } from './pool-rules.ts';
import { nestedOf, nestingRange } from './meeting-range.ts';
import type { AdoptCommand, Allocation, AllocateCommand, IpamPort, MarkedPrefix, PoolUtilization, ReleaseCommand } from './port.ts';

type Q = Pick<pg.PoolClient, 'query'>;
type Run = { start_hex: string; end_hex: string };
type Row = { pool: string; prefix: string; prefix_length: number; lifecycle_id: string };
const MARKED_PAGE = 1000;
const NESTING = nestingRange('ipam_allocations', { pool: '$1', first: '$2', last: '$3' });
type Nesting = { prefix: string; start_hex: string; end_hex: string; lifecycle_id: string };
const LOCK_POOL = 'SELECT parent FROM ipam_pools WHERE pool = $1 FOR UPDATE';

export async function createPgEmbeddedIpam(db: pg.Pool, poolList: EmbeddedPool[], opts: EmbeddedIpamOptions = {}): Promise<IpamPort> {
  const pools = checkPools(poolList.map(({ holdDownS: _, sticky: _s, ...info }) => info));
  const sticky = new Set(poolList.filter((p) => p.sticky !== false).map((p) => p.name));
  const holdDownMs = holdDownsOf(poolList);
  const now = opts.now ?? Date.now;
  const quarantine = pgQuarantine(now);

  /** Locks the pool's row for this transaction: the other instances' writes of the pool wait. */
  const lockPool = async (c: Q, pool: string) => {
    // A pool since removed from the configuration has no row to lock: its blocks only ever leave.
    // A configured pool's row is made by the start-up's write; made again here only should it be
    // missing (a database restored under a running instance), so that its writes still wait on one another.
    if ((await c.query(LOCK_POOL, [pool])).rows.length > 0 || !pools.has(pool)) return;
    await c.query("INSERT INTO ipam_pools (pool, parent) VALUES ($1, '') ON CONFLICT (pool) DO NOTHING", [pool]);
    await c.query(LOCK_POOL, [pool]);
  };

  /** The pool's blocks whose hold-down has passed leave the quarantine for free space (all, or `limit`); answers how many. */
  async function giveBackExpired(c: Q, pool: Pool, limit?: number): Promise<number> {
    const blocks = await quarantine.takeExpired(c, pool.info.name, limit);
    // Held down while the parent moved: outside it, the block is not this pool's free space.
    for (const block of blocks) if (contains(pool.parent, block)) await free.giveBack(c, pool, block.network, lastAddress(block));
    return blocks.length;
  }

  /** The allocation's columns from prefix on (after pool, start_hex, end_hex). */
  const columns = (cmd: AllocateCommand, at: bigint) =>
    [formatPrefix({ network: at, length: cmd.prefixLength }), cmd.prefixLength, cmd.key, cmd.lifecycleId, cmd.subscriberId, new Date(now()).toISOString()] as const;

  async function insertBlock(c: Q, cmd: AllocateCommand, at: bigint): Promise<Allocation> {
    const values = columns(cmd, at);
    await c.query(
      `INSERT INTO ipam_allocations (pool, start_hex, end_hex, prefix, prefix_length, key, lifecycle_id, subscriber_id, allocated_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
      [cmd.pool, toHex(at), toHex(at + blockSize(cmd.prefixLength) - 1n), ...values],
    );
    return { prefix: values[0], prefixLength: cmd.prefixLength, netboxPrefixId: null };
  }

  const byKey = async (c: Q, key: string) =>
    (await c.query<Row>('SELECT pool, prefix, prefix_length, lifecycle_id FROM ipam_allocations WHERE key = $1', [key])).rows[0];

  const deleteOwn = async (c: Q, cmd: ReleaseCommand, block: Ipv6Prefix) =>
    ((
      await c.query('DELETE FROM ipam_allocations WHERE pool = $1 AND start_hex = $2 AND prefix_length = $3 AND lifecycle_id = $4', [
        cmd.pool,
        toHex(block.network),
        block.length,
        cmd.lifecycleId,
      ])
    ).rowCount ?? 0) > 0;

  /** The free run that holds the whole block, if any: otherwise part of it is taken or held down. */
  const wholeRun = async (c: Q, pool: string, block: Ipv6Prefix): Promise<Run | undefined> => {
    const { rows } = await c.query<Run>('SELECT start_hex, end_hex FROM ipam_free WHERE pool = $1 AND start_hex <= $2 ORDER BY start_hex DESC LIMIT 1', [pool, toHex(block.network)]);
    return rows[0] && fromHex(rows[0].end_hex) >= lastAddress(block) ? rows[0] : undefined;
  };
  /** Why adopt() refuses the block, read without a write; null when it takes the block over (or has it under the key). */
  async function adoptRefusal(c: Q, cmd: AdoptCommand, block: Ipv6Prefix): Promise<ServiceError | null> {
    const found = await byKey(c, cmd.key);
    if (found) return found.lifecycle_id !== cmd.lifecycleId || found.pool !== cmd.pool || found.prefix !== formatPrefix(block) ? taken(cmd, `key ${cmd.key} (${found.prefix})`) : null;
    if (await wholeRun(c, cmd.pool, block)) return null;
    // A block whose hold-down has passed is free, given back or not yet (adopt() gives it back).
    const range = [cmd.pool, toHex(block.network), toHex(lastAddress(block)), new Date(now()).toISOString()];
    if ((await c.query(HELD_BESIDES_EXPIRED, range)).rows.length === 0) return null;
    const { rows } = await c.query<{ lifecycle_id: string }>(HOLDER_IN_RANGE, range.slice(0, 3));
    return taken(cmd, rows[0] ? `lifecycle ${rows[0].lifecycle_id}` : 'a quarantined or held-down block');
  }

  /** One write of a pool, under its lock; a lost deadlock is run again, a server that is gone is a retryable `unavailable`. */
  async function write<T>(what: string, pool: string, fn: (c: Q) => Promise<T>): Promise<T> {
    for (let attempt = 1; ; attempt++) {
      try {
        return await inTransaction(db, async (c) => {
          await lockPool(c, pool);
          return fn(c);
        });
      } catch (err) {
        if (isRetryable(err) && attempt < 5) continue;
        if (isPgUnavailable(err)) throw new ServiceError('unavailable', `embedded IPAM ${what}: PostgreSQL is unavailable (${(err as Error).message})`, { retryable: true, cause: err });
        throw err;
      }
    }
  }

  // At start-up: a block of another pool inside a parent is a removed pool's, still held.
  for (const { info, parent } of pools.values()) {
    const other = await othersHeld(db, info.name, toHex(parent.network), toHex(lastAddress(parent)));
    if (other) {
      throw new Error(
        `ipam: pool "${info.name}" (${info.prefix}) overlaps ${other.n} block(s) still held in pool "${other.pool}", which the configuration no longer names: keep "${other.pool}" configured until its lifecycles are revoked`,
      );
    }
    // Instances starting together: the first to lock the row rebuilds and recounts, the others see
    // the parent and the length (pools[].prefix_length) counted for.
    const pool = pools.get(info.name)!;
    await write('start', info.name, async (c) => {
      const counted = await counts.countedFor(c, info.name);
      if (counted?.parent !== info.prefix) await free.rebuild(c, pool);
      if (counted?.parent !== info.prefix || counted.unitLength !== info.prefixLength) await counts.recount(c, pool);
    });
    warnIfMoved(opts.log, pool, await counts.figures(db, pool, new Date(now()).toISOString()));
  }

  async function* markedPages(signal?: AbortSignal): AsyncIterable<MarkedPrefix[]> {
    let after = { pool: '', start_hex: '' };
    for (;;) {
      signal?.throwIfAborted();
      const { rows } = await db.query<{ pool: string; prefix: string; lifecycle_id: string; key: string; start_hex: string }>(
        'SELECT pool, prefix, lifecycle_id, key, start_hex FROM ipam_allocations WHERE (pool, start_hex) > ($1, $2) ORDER BY pool, start_hex LIMIT $3',
        [after.pool, after.start_hex, MARKED_PAGE],
      );
      if (rows.length > 0) yield rows.map((r): MarkedPrefix => ({ pool: r.pool, prefix: r.prefix, lifecycleId: r.lifecycle_id, key: r.key }));
      if (rows.length < MARKED_PAGE) return;
      after = { pool: rows.at(-1)!.pool, start_hex: rows.at(-1)!.start_hex };
    }
  }

  const sweepSoon = sweepLater(() => port.sweep(), opts.log, () => db.ended);
  /** The pool's expired hold-downs given back, SWEEP_BATCH a transaction; answers how many. */
  async function sweepPool(pool: Pool, signal?: AbortSignal): Promise<number> {
    let givenBack = 0;
    for (let n = SWEEP_BATCH; n === SWEEP_BATCH; givenBack += n) {
      signal?.throwIfAborted();
      n = await write('sweep', pool.info.name, (c) => giveBackExpired(c, pool, SWEEP_BATCH));
    }
    return givenBack;
  }

  const port: IpamPort & Sweeping = {
    async allocate(cmd, signal) {
      signal?.throwIfAborted();
      const pool = checkAllocate(pools, cmd);
      const allocation = await write('allocate', cmd.pool, async (c): Promise<Allocation | null | typeof MORE_EXPIRED> => {
        // One batch of expired hold-downs at most, under the pool's lock every instance waits on; the
        // rest go in a sweep of their own transactions, started now (pool-rules.ts). A batch that fits
        // nothing while more wait (blocks outside a moved parent) is MORE_EXPIRED.
        const nowIso = new Date(now()).toISOString();
        const { found, back, taken, runs } = await lookUpOrTake(c, cmd, sticky.has(cmd.pool) && !cmd.renumber, pool.parent, nowIso, ALLOCATION_GIVE_BACK);
        if (found) {
          checkSameAllocation(cmd, { pool: found.pool, prefixLength: found.prefix_length, lifecycleId: found.lifecycle_id, prefix: found.prefix });
          return { prefix: found.prefix, prefixLength: found.prefix_length, netboxPrefixId: null };
        }
        if (back && contains(pool.parent, back)) {
          // Two statements: the insert's trigger (migration 004) would still see the block quarantined in one.
          await quarantine.drop(c, cmd.pool, back);
          return insertBlock(c, cmd, back.network);
        }
        // Held down while the parent moved: outside it, the block is not this pool's free space.
        for (const block of taken) if (contains(pool.parent, block)) await free.giveBack(c, pool, block.network, lastAddress(block));
        if (taken.length === ALLOCATION_GIVE_BACK) sweepSoon();
        if (taken.length === 0) {
          // The runs read with the (empty) take are the free space: carved and inserted in one statement.
          const fit = fitIn(runs, cmd.prefixLength);
          if (fit) {
            await carveAndInsert(c, cmd.pool, fit.run, fit.at, cmd.prefixLength, [...columns(cmd, fit.at)]);
            return { prefix: formatPrefix({ network: fit.at, length: cmd.prefixLength }), prefixLength: cmd.prefixLength, netboxPrefixId: null };
          }
          if (runs.length < RUN_PAGE) return null;
        }
        const at = await free.takeFirstFit(c, cmd.pool, cmd.prefixLength, taken.length === 0 ? runs.at(-1)!.start_hex : '');
        if (at !== null) return insertBlock(c, cmd, at);
        return taken.length === ALLOCATION_GIVE_BACK ? MORE_EXPIRED : null;
      });
      if (allocation === MORE_EXPIRED) {
        // Batch after batch in one transaction held the pool's lock (16,000 blocks outside a moved
        // parent: 2.3 s): the sweep's transactions take them, then first fit looks again.
        await sweepPool(pool, signal);
        return port.allocate(cmd, signal);
      }
      if (!allocation) throw exhausted(pool, cmd.prefixLength);
      return allocation;
    },

    async adopt(cmd, signal) {
      signal?.throwIfAborted();
      const { pool, block } = checkAdopt(pools, cmd);
      return write('adopt', cmd.pool, async (c): Promise<Allocation> => {
        const refused = await adoptRefusal(c, cmd, block);
        if (refused) throw refused;
        const found = await byKey(c, cmd.key);
        if (found) return { prefix: found.prefix, prefixLength: found.prefix_length, netboxPrefixId: null };
        const expired = await c.query<{ prefix: string }>(TAKE_EXPIRED_IN, [cmd.pool, toHex(block.network), toHex(lastAddress(block)), new Date(now()).toISOString()]);
        for (const b of expired.rows.map((r) => parsePrefix(r.prefix)).sort((x, y) => (x.network < y.network ? -1 : 1))) {
          if (contains(pool.parent, b)) await free.giveBack(c, pool, b.network, lastAddress(b));
        }
        const run = (await wholeRun(c, cmd.pool, block))!;
        const start = block.network;
        await free.deleteRun(c, cmd.pool, run.start_hex);
        await free.addRun(c, cmd.pool, fromHex(run.start_hex), start - 1n);
        await free.addRun(c, cmd.pool, lastAddress(block) + 1n, fromHex(run.end_hex));
        return insertBlock(c, { ...cmd, prefixLength: block.length }, start);
      });
    },

    async adoptionRefusal(cmd, signal) {
      signal?.throwIfAborted();
      const { block } = checkAdopt(pools, cmd);
      return (await adoptRefusal(db, cmd, block))?.message ?? null;
    },

    async nestedHeld(pool, prefix, signal) {
      signal?.throwIfAborted();
      const block = parsePrefix(prefix);
      const [first, last] = [toHex(block.network), toHex(lastAddress(block))];
      const { rows } = await db.query<Nesting>(NESTING, [pool, first, last]);
      return nestedOf(rows, first, last).map((r) => ({ prefix: r.prefix, lifecycleId: r.lifecycle_id }));
    },

    async allocatedUnder(cmd, signal) {
      signal?.throwIfAborted();
      const found = await byKey(db, cmd.key);
      if (!found || found.lifecycle_id !== cmd.lifecycleId || found.pool !== cmd.pool) return [];
      return [{ prefix: found.prefix, prefixLength: found.prefix_length, netboxPrefixId: null }];
    },

    async release(cmd, signal) {
      signal?.throwIfAborted();
      const block = parsePrefix(cmd.prefix);
      await write('release', cmd.pool, async (c) => {
        if ((await deleteOwn(c, cmd, block)) && pools.has(cmd.pool)) await quarantine.hold(c, cmd.pool, block, cmd.lifecycleId, cmd.subscriberId ?? null);
      });
    },

    async free(cmd, signal) {
      signal?.throwIfAborted();
      const block = parsePrefix(cmd.prefix);
      await write('free', cmd.pool, async (c) => {
        const owned = await deleteOwn(c, cmd, block);
        if (!owned && !(await quarantine.isHeldFor(c, cmd.pool, block, cmd.lifecycleId))) return;
        const pool = pools.get(cmd.pool);
        const holdMs = holdDownMs.get(cmd.pool) ?? 0;
        if (pool && holdMs > 0) return quarantine.free(c, cmd.pool, block, cmd.lifecycleId, cmd.subscriberId ?? null, holdMs);
        if (!owned) await quarantine.drop(c, cmd.pool, block);
        if (pool && contains(pool.parent, block)) await free.giveBack(c, pool, block.network, lastAddress(block));
      });
    },

    async utilization(signal) {
      signal?.throwIfAborted();
      // Counts kept in each write (migration 008): one row per pool, however many blocks are held down.
      const at = new Date(now()).toISOString();
      const out: PoolUtilization[] = [];
      for (const pool of pools.values()) {
        const { allocated, heldDown } = await counts.figures(db, pool, at);
        out.push({ ...pool.info, capacity: Number(subnetCount(pool.parent, pool.info.prefixLength)), allocated, heldDown });
      }
      return out;
    },

    async sweep(signal?: AbortSignal) {
      let givenBack = 0;
      for (const pool of pools.values()) givenBack += await sweepPool(pool, signal);
      return { given_back: givenBack };
    },

    async markedPrefixes(signal) {
      const all: MarkedPrefix[] = [];
      for await (const page of markedPages(signal)) all.push(...page);
      return all;
    },

    markedPages,
  };
  return port;
}

/** What an allocation's transaction answers when its batch of expired hold-downs fitted nothing and more wait. */
const MORE_EXPIRED = Symbol('more expired hold-downs');
