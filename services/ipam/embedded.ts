import { setImmediate as nextTurn } from 'node:timers/promises';
import { isStoreBusy, type Db } from '../../store/db.ts';
import { ServiceError } from '../errors.ts';
import { createPoolCounts } from './embedded-counts.ts';
import { createFreeSpace } from './embedded-free.ts';
import { createBlocks } from './embedded-blocks.ts';
import { createOthersHeld } from './embedded-others.ts';
import { createQuarantine, holdDownsOf } from './embedded-quarantine.ts';
import { blockSize, contains, formatPrefix, lastAddress, parsePrefix, subnetCount, toHex, type Ipv6Prefix } from '../ipv6.ts';
import { checkAdopt, checkAllocate, checkPools, checkSameAllocation, ALLOCATION_GIVE_BACK, exhausted, sweepLater, SWEEP_BATCH, taken, warnIfMoved, type EmbeddedIpamOptions, type EmbeddedPool, type Pool, type Sweeping } from './pool-rules.ts';
import type { AdoptCommand, AllocateCommand, Allocation, IpamPort, PoolUtilization, ReleaseCommand } from './port.ts';

/**
 * The embedded IPAM: pools from configuration, allocations in the service's own SQLite file.
 *
 * A released block waits in `ipam_quarantine`: quarantined until free() (the revocation that
 * released it has finished), then held down for its pool's hold-down. markedPrefixes() omits it
 * (it is no lifecycle's any more) and utilization() counts it as allocated (no one can take it).
 * utilization() reads counts kept by migration 015's triggers (embedded-counts.ts), not the blocks.
 * Its key is spent: allocate() under it takes a fresh block, as NetBox's `deprecate` mode does,
 * never the held-down one. Only a replayed release step asks that, re-allocating an attempt whose
 * answer was lost, and it frees the fresh block at once. A sticky pool gives a freed block back to
 * its subscriber's next allocation while it is held down.
 */
export function createEmbeddedIpam(db: Db, poolList: EmbeddedPool[], opts: EmbeddedIpamOptions = {}): IpamPort {
  const pools = checkPools(poolList.map(({ holdDownS: _, sticky: _s, ...info }) => info));
  const sticky = new Set(poolList.filter((p) => p.sticky !== false).map((p) => p.name));
  const holdDownMs = holdDownsOf(poolList);
  const now = opts.now ?? Date.now;
  const quarantine = createQuarantine(db, now);
  const counts = createPoolCounts(db);
  const space = createFreeSpace(db);

  const blocks = createBlocks(db);
  // Configured pools never overlap, so a block of another pool inside a parent is a removed pool's,
  // still held: its free space, per pool, would hand that block out a second time.
  const othersHeld = createOthersHeld(db);
  for (const { info, parent } of pools.values()) {
    const other = othersHeld(info.name, toHex(parent.network), toHex(lastAddress(parent)));
    if (other) {
      throw new Error(
        `ipam: pool "${info.name}" (${info.prefix}) overlaps ${other.n} block(s) still held in pool "${other.pool}", which the configuration no longer names: keep "${other.pool}" configured until its lifecycles are revoked`,
      );
    }
  }

  // The free runs depend on the parent, the counts on the parent and the length (pools[].prefix_length).
  db.transaction(() => {
    for (const pool of pools.values()) {
      const counted = counts.countedFor(pool.info.name);
      if (counted?.parent !== pool.info.prefix) space.rebuild(pool);
      if (counted?.parent !== pool.info.prefix || counted.unitLength !== pool.info.prefixLength) counts.recount(pool);
    }
  }).immediate();
  for (const pool of pools.values()) warnIfMoved(opts.log, pool, counts.figures(pool, new Date(now()).toISOString()));

  /**
   * First fit over the free runs in address order: the first run that holds an aligned block of
   * the length gives the first free aligned block, because runs are maximal. O(log n + f), f being
   * the free runs passed over as too small or misaligned. f is 0 in a pool that delegates one
   * length (every run is then whole aligned blocks), however many blocks are allocated; mixing
   * lengths costs at most one step per hole smaller than the request.
   */
  function allocateIn(cmd: AllocateCommand, pool: Pool): Allocation | null | typeof MORE_EXPIRED {
    const found = blocks.byKey(cmd.key, cmd.lifecycleId);
    if (found) {
      checkSameAllocation(cmd, {
        pool: found.pool,
        prefixLength: found.prefix_length,
        lifecycleId: found.lifecycle_id,
        prefix: found.prefix,
      });
      return { prefix: found.prefix, prefixLength: found.prefix_length, netboxPrefixId: null };
    }
    const back = sticky.has(cmd.pool) && !cmd.renumber ? quarantine.stickyFor(cmd.pool, cmd.subscriberId, cmd.prefixLength) : null;
    if (back && contains(pool.parent, back)) {
      // The subscriber's own block, freed but still held down: nobody else can have it.
      quarantine.drop(cmd.pool, back);
      return insertBlock(cmd, back.network);
    }
    // One batch of expired hold-downs at most (ALLOCATION_GIVE_BACK says why); the rest go in a sweep
    // of their own transactions, started now. A batch that fits nothing while more wait (blocks
    // outside a moved parent) is MORE_EXPIRED: the caller waits for the sweep and looks again.
    const givenBack = space.giveBackExpired(pool, quarantine, ALLOCATION_GIVE_BACK);
    if (givenBack === ALLOCATION_GIVE_BACK) sweepSoon();
    const at = space.takeFirstFit(cmd.pool, cmd.prefixLength);
    if (at !== null) return insertBlock(cmd, at);
    return givenBack === ALLOCATION_GIVE_BACK ? MORE_EXPIRED : null;
  }
  const allocateInTransaction = db.transaction(allocateIn);

  const sweepInTransaction = db.transaction((pool: Pool, limit: number) => space.giveBackExpired(pool, quarantine, limit));
  /** The pool's expired hold-downs given back, SWEEP_BATCH a transaction and a turn of the event loop between; answers how many. */
  async function sweepPool(pool: Pool, signal?: AbortSignal): Promise<number> {
    let givenBack = 0;
    for (let n = SWEEP_BATCH; n === SWEEP_BATCH; givenBack += n) {
      signal?.throwIfAborted();
      n = whileUnlocked('sweep', () => sweepInTransaction.immediate(pool, SWEEP_BATCH));
      // Another turn for the requests between two batches.
      if (n === SWEEP_BATCH) await nextTurn();
    }
    return givenBack;
  }
  const sweepSoon = sweepLater(() => port.sweep(), opts.log, () => !db.open);

  /**
   * O(log n): the block is carved out of the free run holding it and recorded under the key. A
   * block not wholly free (allocated, quarantined, held down) is refused, unless it is this key's.
   */
  /** Why adopt() refuses the block, read without a write; null when it takes the block over (or has it under the key). */
  function adoptRefusal(cmd: AdoptCommand, block: Ipv6Prefix): ServiceError | null {
    const found = blocks.byKey(cmd.key, cmd.lifecycleId);
    if (found) return found.lifecycle_id !== cmd.lifecycleId || found.pool !== cmd.pool || found.prefix !== formatPrefix(block) ? taken(cmd, `key ${cmd.key} (${found.prefix})`) : null;
    if (space.holdsExactly(cmd.pool, block.network, lastAddress(block))) return null;
    // A block whose hold-down has passed is free, given back or not yet (adopt() gives it back).
    if (!space.heldBesidesExpired(cmd.pool, block.network, lastAddress(block), new Date(now()).toISOString())) return null;
    const other = space.firstTaken(cmd.pool, block.network, lastAddress(block));
    const holder = other ? blocks.holderOf(cmd.pool, other.start_hex) : undefined;
    return taken(cmd, holder ? `lifecycle ${holder}` : 'a quarantined or held-down block');
  }

  const adoptInTransaction = db.transaction((cmd: AdoptCommand, pool: Pool, block: Ipv6Prefix): Allocation => {
    const refused = adoptRefusal(cmd, block);
    if (refused) throw refused;
    const found = blocks.byKey(cmd.key, cmd.lifecycleId);
    if (found) return { prefix: found.prefix, prefixLength: found.prefix_length, netboxPrefixId: null };
    for (const b of quarantine.takeExpiredIn(cmd.pool, block.network, lastAddress(block))) if (contains(pool.parent, b)) space.giveBack(pool, b.network, lastAddress(b));
    if (!space.takeExactly(cmd.pool, block.network, lastAddress(block))) throw taken(cmd, 'a quarantined or held-down block');
    return insertBlock({ ...cmd, prefixLength: block.length }, block.network);
  });

  function insertBlock(cmd: Pick<AllocateCommand, 'pool' | 'prefixLength' | 'key' | 'lifecycleId' | 'subscriberId'>, at: bigint): Allocation {
    const prefix = formatPrefix({ network: at, length: cmd.prefixLength });
    blocks.insert({
      pool: cmd.pool,
      start_hex: toHex(at),
      end_hex: toHex(at + blockSize(cmd.prefixLength) - 1n),
      prefix,
      prefix_length: cmd.prefixLength,
      key: cmd.key,
      lifecycle_id: cmd.lifecycleId,
      subscriber_id: cmd.subscriberId,
      allocated_at: now(),
    });
    return { prefix, prefixLength: cmd.prefixLength, netboxPrefixId: null };
  }

  const deleteOwn = (cmd: ReleaseCommand, block: Ipv6Prefix) =>
    blocks.deleteOwn(cmd.pool, toHex(block.network), block.length, cmd.lifecycleId);

  /** O(log n): the block stops being the lifecycle's and is quarantined until free(). */
  const releaseInTransaction = db.transaction((cmd: ReleaseCommand, block: Ipv6Prefix): void => {
    // A block of a pool since removed from the configuration is nobody's free space: it just goes.
    if (deleteOwn(cmd, block) && pools.has(cmd.pool)) quarantine.hold(cmd.pool, block, cmd.lifecycleId, cmd.subscriberId ?? null);
  });

  /** O(log n): the block (released or not yet) is held down for the pool's hold-down, or given back at once when it is 0. */
  const freeInTransaction = db.transaction((cmd: ReleaseCommand, block: Ipv6Prefix): void => {
    const owned = deleteOwn(cmd, block);
    if (!owned && !quarantine.isHeldFor(cmd.pool, block, cmd.lifecycleId)) return;
    const pool = pools.get(cmd.pool);
    const holdMs = holdDownMs.get(cmd.pool) ?? 0;
    // Held down even outside a moved parent: should the parent move back, the block is not free yet.
    if (pool && holdMs > 0) return quarantine.free(cmd.pool, block, cmd.lifecycleId, cmd.subscriberId ?? null, holdMs);
    if (!owned) quarantine.drop(cmd.pool, block);
    // A block outside the configured parent (the pool was moved or removed) is not free space to hand out.
    if (pool && contains(pool.parent, block)) space.giveBack(pool, block.network, lastAddress(block));
  });

  const port: IpamPort & Sweeping = {
    async allocate(cmd, signal) {
      signal?.throwIfAborted();
      const pool = checkAllocate(pools, cmd);
      for (;;) {
        // IMMEDIATE takes the write lock before the search, so another process cannot slip a block in between.
        const allocation = whileUnlocked('allocate', () => allocateInTransaction.immediate(cmd, pool));
        if (allocation !== MORE_EXPIRED) {
          if (!allocation) throw exhausted(pool, cmd.prefixLength);
          return allocation;
        }
        // Batch after batch in this one transaction blocked the event loop (16,000 blocks outside a
        // moved parent: 1.75 s): the sweep's transactions take them, a turn on, then first fit looks again.
        await nextTurn();
        await sweepPool(pool, signal);
      }
    },

    async adopt(cmd, signal) {
      signal?.throwIfAborted();
      const { pool, block } = checkAdopt(pools, cmd);
      return whileUnlocked('adopt', () => adoptInTransaction.immediate(cmd, pool, block));
    },

    async adoptionRefusal(cmd, signal) {
      signal?.throwIfAborted();
      const { block } = checkAdopt(pools, cmd);
      return adoptRefusal(cmd, block)?.message ?? null;
    },

    async nestedHeld(pool, prefix, signal) {
      signal?.throwIfAborted();
      const block = parsePrefix(prefix);
      return blocks.nesting(pool, toHex(block.network), toHex(lastAddress(block)));
    },

    allocateNow(cmd) {
      const pool = checkAllocate(pools, cmd);
      // No savepoint of its own (the caller's is the one per allocation): a refusal or an error
      // may leave writes (expired hold-downs given back) that the caller's rollback takes away.
      if (!db.inTransaction) throw new Error('ipam: allocateNow() outside a transaction');
      // One batch of expired hold-downs, as the ordinary step: inside the caller's savepoint more cost
      // quadratically. A refusal sends the lifecycle to the ordinary step, which waits for the sweep.
      const allocation = allocateIn(cmd, pool);
      if (!allocation || allocation === MORE_EXPIRED) throw exhausted(pool, cmd.prefixLength);
      return allocation;
    },

    async allocatedUnder(cmd, signal) {
      signal?.throwIfAborted();
      // A released block left ipam_allocations (held down or free): only a live one is returned.
      const found = blocks.byKey(cmd.key, cmd.lifecycleId);
      if (!found || found.lifecycle_id !== cmd.lifecycleId || found.pool !== cmd.pool) return [];
      return [{ prefix: found.prefix, prefixLength: found.prefix_length, netboxPrefixId: null }];
    },

    async release(cmd, signal) {
      signal?.throwIfAborted();
      // The pool is not checked against the configuration: a lifecycle must still be able to give
      // back a prefix from a pool that was since removed from it.
      const block = parsePrefix(cmd.prefix);
      whileUnlocked('release', () => releaseInTransaction.immediate(cmd, block));
    },

    async free(cmd, signal) {
      signal?.throwIfAborted();
      const block = parsePrefix(cmd.prefix);
      whileUnlocked('free', () => freeInTransaction.immediate(cmd, block));
    },

    async utilization(signal) {
      signal?.throwIfAborted();
      // Counts kept in each write: two rows per pool, however many blocks are allocated or held down.
      const at = new Date(now()).toISOString();
      return [...pools.values()].map((pool): PoolUtilization => {
        const { allocated, heldDown } = counts.figures(pool, at);
        return { ...pool.info, capacity: Number(subnetCount(pool.parent, pool.info.prefixLength)), allocated, heldDown };
      });
    },

    // The clean-up's sweep: blocks past their hold-down go to free space, a batch a transaction, as an
    // allocation does for its pool; so a pool without allocations keeps few for its figures to sum.
    async sweep(signal?: AbortSignal) {
      let givenBack = 0;
      for (const pool of pools.values()) givenBack += await sweepPool(pool, signal);
      return { given_back: givenBack };
    },

    async markedPrefixes(signal) {
      signal?.throwIfAborted();
      // Every row, configured pool or not: a block left in a pool since removed is still held. A
      // held-down block is no lifecycle's any more, so it is not listed.
      return blocks.all();
    },

    async *markedPages(signal) {
      for (let after: { pool: string; start_hex: string } | null = { pool: '', start_hex: '' }; after; ) {
        signal?.throwIfAborted();
        const page = blocks.page(after, MARKED_PAGE);
        if (page.marked.length > 0) yield page.marked;
        after = page.last;
      }
    },
  };
  return port;
}

/** What an allocation's transaction answers when its batch of expired hold-downs fitted nothing and more wait. */
const MORE_EXPIRED = Symbol('more expired hold-downs');

/** Rows per page of markedPages(): a few milliseconds of the event loop each. */
const MARKED_PAGE = 1000;

/**
 * Runs a write of the IPAM. Another connection's lock held past the busy timeout (a `sqlite3` shell
 * in BEGIN IMMEDIATE, a backup) passes: it is a retryable `unavailable`, so the step runner tries
 * again with its backoff instead of failing the lifecycle. Nothing was written: the transaction
 * never began, or rolled back.
 */
function whileUnlocked<T>(what: string, write: () => T): T {
  try {
    return write();
  } catch (err) {
    if (!isStoreBusy(err)) throw err;
    throw new ServiceError('unavailable', `embedded IPAM ${what}: the database is locked by another connection (${(err as Error).message})`, {
      retryable: true,
      cause: err,
    });
  }
}
