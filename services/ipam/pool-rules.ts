// The rules both in-process IPAMs (embedded.ts and the fake) check a pool and a command by, so
// the fake refuses what the embedded IPAM refuses, with the same typed errors.
import { ServiceError } from '../errors.ts';
import { formatPrefix, parsePrefix, type Ipv6Prefix } from '../ipv6.ts';
import type { AdoptCommand, AllocateCommand, PoolInfo } from './port.ts';
import { contains } from '../ipv6.ts';

/** A configured pool with its parent prefix parsed. */
export interface Pool {
  info: PoolInfo;
  parent: Ipv6Prefix;
}

/** A pool's parent prefix parsed and checked once, at start-up rather than on the first allocation. */
export function checkPools(pools: readonly PoolInfo[]): Map<string, Pool> {
  const byName = new Map<string, Pool>();
  for (const info of pools) {
    if (byName.has(info.name)) throw new Error(`ipam: pool "${info.name}" is configured twice`);
    const parent = parsePrefix(info.prefix, 'pool.prefix');
    if (!Number.isInteger(info.prefixLength) || info.prefixLength < parent.length || info.prefixLength > 128) {
      throw new Error(`ipam: pool "${info.name}" cannot delegate /${info.prefixLength} from ${info.prefix}`);
    }
    byName.set(info.name, { info: { ...info, prefix: formatPrefix(parent) }, parent });
  }
  return byName;
}

/** Resolves the pool and checks the command, throwing the port's typed errors. */
export function checkAllocate(pools: Map<string, Pool>, cmd: AllocateCommand): Pool {
  if (typeof cmd.key !== 'string' || cmd.key === '') {
    throw new ServiceError('validation_error', 'an allocation needs an idempotency key', { field: 'key' });
  }
  const pool = pools.get(cmd.pool);
  if (!pool) throw new ServiceError('not_found', `unknown pool "${cmd.pool}"`, { field: 'pool' });
  const { length } = pool.parent;
  if (!Number.isInteger(cmd.prefixLength) || cmd.prefixLength < length || cmd.prefixLength > 128) {
    throw new ServiceError(
      'validation_error',
      `pool "${cmd.pool}" (${pool.info.prefix}) delegates prefixes of length ${length} to 128, not ${cmd.prefixLength}`,
      { field: 'prefixLength' },
    );
  }
  return pool;
}

/** A key reused for a different allocation is a bug upstream; answering with the old prefix would hide it. */
export function checkSameAllocation(
  cmd: AllocateCommand,
  found: { pool: string; prefixLength: number; lifecycleId: string; prefix: string },
): void {
  if (found.pool !== cmd.pool || found.prefixLength !== cmd.prefixLength || found.lifecycleId !== cmd.lifecycleId) {
    throw new ServiceError(
      'idempotency_mismatch',
      `key "${cmd.key}" already allocated ${found.prefix} in pool "${found.pool}" for lifecycle ${found.lifecycleId}`,
      { field: 'key' },
    );
  }
}

/** The `pool_exhausted` error of a pool that has no free block of `length`. */
export function exhausted(pool: Pool, length: number): ServiceError {
  return new ServiceError('pool_exhausted', `pool "${pool.info.name}" (${pool.info.prefix}) has no free /${length}`);
}

/** Resolves the pool of an adoption and checks the prefix is a block of it, throwing the port's typed errors. */
export function checkAdopt(pools: Map<string, Pool>, cmd: AdoptCommand): { pool: Pool; block: Ipv6Prefix } {
  if (typeof cmd.key !== 'string' || cmd.key === '') throw new ServiceError('validation_error', 'an adoption needs an idempotency key', { field: 'key' });
  const pool = pools.get(cmd.pool);
  if (!pool) throw new ServiceError('not_found', `unknown pool "${cmd.pool}"`, { field: 'pool' });
  const block = parsePrefix(cmd.prefix, 'prefix');
  if (!contains(pool.parent, block)) {
    throw new ServiceError('validation_error', `${cmd.prefix} is not inside pool "${cmd.pool}" (${pool.info.prefix})`, { field: 'prefix' });
  }
  return { pool, block };
}

/** The refusal of an adoption: someone else holds (part of) the block. */
export function taken(cmd: AdoptCommand, by: string): ServiceError {
  return new ServiceError('idempotency_mismatch', `${cmd.prefix} in pool "${cmd.pool}" is held by ${by}, not lifecycle ${cmd.lifecycleId}`, { field: 'prefix' });
}

/** The log call the embedded IPAM makes, for its warnings (a pino logger is one). */
export interface WarnLog {
  warn(fields: object, message: string): void;
}

/**
 * Expired hold-downs an allocation gives back at most, inside its transaction. In the group
 * commit's savepoint, with SQLite's journal in memory, giving back tens of thousands at once costs
 * quadratically (a minute at 35,000); on PostgreSQL it holds the pool's lock as long.
 */
export const ALLOCATION_GIVE_BACK = 64;

/** Expired blocks given back per transaction of the sweep: a few milliseconds of the event loop each. */
export const SWEEP_BATCH = 500;

/**
 * A call that starts `sweep` on the next turn, once at a time: the expired hold-downs an allocation
 * left past its batch go back in the sweep's own transactions. `closed` says the store has gone
 * (the service stopping): then nothing is started, and a failure is no warning.
 */
export function sweepLater(sweep: () => Promise<unknown>, log: WarnLog | undefined, closed: () => boolean = () => false): () => void {
  let sweeping = false;
  return () => {
    if (sweeping || closed()) return;
    sweeping = true;
    setImmediate(async () => {
      try {
        if (!closed()) await sweep();
      } catch (err) {
        if (!closed()) log?.warn({ err }, 'ipam: giving back expired hold-downs failed; the clean-up sweep tries again');
      } finally {
        sweeping = false;
      }
    });
  };
}

/**
 * A pool moved to a new parent (pools[].prefix) while lifecycles hold prefixes of the old one: each
 * start says so until POST /update has moved them all; meanwhile they count as allocated.
 */
export function warnIfMoved(log: WarnLog | undefined, { info }: Pool, figures: { outside: number; movedFrom: string | null }): void {
  if (!log || figures.outside === 0) return;
  log.warn(
    { pool: info.name, parent: info.prefix, moved_from: figures.movedFrom, lifecycles: figures.outside },
    'pool moved to a new parent while lifecycles hold prefixes outside it: they count as allocated until POST /update moves each one into the new parent',
  );
}

/** The clean-up's hook (services/ipam/router.ts runs every IPAM's): expired hold-downs given back. */
export interface Sweeping {
  sweep(signal?: AbortSignal): Promise<{ given_back: number }>;
}

/** A pool served by the embedded IPAM. */
export interface EmbeddedPool extends PoolInfo {
  /**
   * Seconds a freed block is held down before it can be allocated again, 600 unless set. It counts
   * from free(): for a revocation, from its end, once RADIUS, sessions and the CPE let the prefix
   * go. 0 hands it out again as soon as it is freed.
   */
  holdDownS?: number;
  /** A subscriber allocated again while its freed block is still held down gets that block back; true unless set. */
  sticky?: boolean;
}

export interface EmbeddedIpamOptions {
  /** The clock, in milliseconds since the epoch; tests inject one to cross a hold-down. */
  now?: () => number;
  /** Where the start warns of a pool moved to a new parent while lifecycles hold prefixes of the old one. */
  log?: WarnLog;
}
