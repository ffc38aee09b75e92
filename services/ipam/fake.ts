import { createFaults, type Faults } from '../faults.ts';
import { checkAdopt, checkAllocate, checkPools, checkSameAllocation, exhausted, taken, type Pool } from './pool-rules.ts';
import { alignUp, blockSize, formatPrefix, lastAddress, parsePrefix, subnetCount } from '../ipv6.ts';
import { blocksUsed } from './units.ts';
import { NESTED_LIMIT, type AdoptCommand, AllocateCommand, Allocation, IpamPort, type KeyLookup, type PoolInfo, type PoolUtilization, type ReleaseCommand } from './port.ts';

/** The port's methods, by which faults are queued and calls are recorded. */
export type IpamMethod = 'allocate' | 'allocatedUnder' | 'release' | 'free' | 'utilization' | 'markedPrefixes' | 'adopt';

/** One allocation the fake holds, as tests inspect it. */
export interface FakeAllocation {
  pool: string;
  prefix: string;
  prefixLength: number;
  key: string;
  lifecycleId: string;
  subscriberId: string;
}

/** The in-memory IPAM tests use, with faults to inject and everything it holds laid open. */
export interface FakeIpam extends IpamPort {
  /** Makes the next call(s) of `method` throw; by default a retryable `upstream_unavailable`. */
  failNext: Faults<IpamMethod>['failNext'];
  /** Every call received, in order, faults included. */
  readonly calls: ReadonlyArray<{ method: IpamMethod; cmd: AllocateCommand | KeyLookup | ReleaseCommand | AdoptCommand | null }>;
  /** What is allocated now, in pool then address order. */
  allocations(): FakeAllocation[];
  /** Released blocks not freed yet (quarantined: nobody may have them), in pool then address order. */
  quarantined(): FakeAllocation[];
}

interface Block extends FakeAllocation {
  network: bigint;
  last: bigint;
}

/**
 * In-memory IPAM with the embedded IPAM's semantics: first free aligned block, idempotent by key, a
 * released block quarantined until freed. It has no hold-down: a freed block is free at once.
 */
export function createFakeIpam(poolList: PoolInfo[]): FakeIpam {
  const pools = checkPools(poolList);
  // Kept sorted by (pool, network) so the first-free search is one ordered walk.
  const blocks: Block[] = [];
  const faults = createFaults<IpamMethod>('fake ipam');
  const calls: Array<{ method: IpamMethod; cmd: AllocateCommand | KeyLookup | ReleaseCommand | AdoptCommand | null }> = [];

  function blocksOf(pool: string): Block[] {
    return blocks.filter((b) => b.pool === pool);
  }

  function insert(block: Block): void {
    const at = blocks.findIndex((b) => b.pool > block.pool || (b.pool === block.pool && b.network > block.network));
    blocks.splice(at < 0 ? blocks.length : at, 0, block);
  }

  // O(n) per allocation: a fake holds what one test allocates, so plain beats clever here.
  function firstFree(pool: Pool, length: number): bigint | null {
    const size = blockSize(length);
    let candidate = pool.parent.network;
    for (const b of blocksOf(pool.info.name)) {
      if (b.network > candidate + size - 1n) break;
      if (b.last >= candidate) candidate = alignUp(b.last + 1n, length);
    }
    return candidate + size - 1n <= lastAddress(pool.parent) ? candidate : null;
  }

  /** Records the call, then runs the effect between the queued fault's before and after points. */
  async function call<T>(method: IpamMethod, cmd: AllocateCommand | KeyLookup | ReleaseCommand | AdoptCommand | null, effect: () => T): Promise<T> {
    calls.push({ method, cmd });
    return faults.run(method, effect);
  }

  function allocate(cmd: AllocateCommand): Allocation {
    const pool = checkAllocate(pools, cmd);
    const found = blocks.find((b) => b.key === cmd.key);
    if (found) {
      checkSameAllocation(cmd, found);
      return { prefix: found.prefix, prefixLength: found.prefixLength, netboxPrefixId: null };
    }
    const network = firstFree(pool, cmd.prefixLength);
    if (network === null) throw exhausted(pool, cmd.prefixLength);
    const prefix = formatPrefix({ network, length: cmd.prefixLength });
    insert({
      pool: cmd.pool,
      prefix,
      prefixLength: cmd.prefixLength,
      key: cmd.key,
      lifecycleId: cmd.lifecycleId,
      subscriberId: cmd.subscriberId,
      network,
      last: network + blockSize(cmd.prefixLength) - 1n,
    });
    return { prefix, prefixLength: cmd.prefixLength, netboxPrefixId: null };
  }

  function adopt(cmd: AdoptCommand): Allocation {
    const { block } = checkAdopt(pools, cmd);
    const last = block.network + blockSize(block.length) - 1n;
    const byKey = blocks.find((b) => b.key === cmd.key);
    if (byKey && (byKey.lifecycleId !== cmd.lifecycleId || byKey.network !== block.network || byKey.prefixLength !== block.length)) throw taken(cmd, `key ${cmd.key} (${byKey.prefix})`);
    if (byKey) return { prefix: byKey.prefix, prefixLength: byKey.prefixLength, netboxPrefixId: null };
    const overlap = blocks.find((b) => b.pool === cmd.pool && b.network <= last && b.last >= block.network);
    if (overlap) throw taken(cmd, overlap.key === '' ? 'a quarantined block' : `lifecycle ${overlap.lifecycleId}`);
    const prefix = formatPrefix(block);
    insert({ pool: cmd.pool, prefix, prefixLength: block.length, key: cmd.key, lifecycleId: cmd.lifecycleId, subscriberId: cmd.subscriberId, network: block.network, last });
    return { prefix, prefixLength: block.length, netboxPrefixId: null };
  }

  function allocatedUnder(cmd: KeyLookup): Allocation[] {
    return blocks
      .filter((b) => b.key === cmd.key && b.lifecycleId === cmd.lifecycleId)
      .map((b) => ({ prefix: b.prefix, prefixLength: b.prefixLength, netboxPrefixId: null }));
  }

  const isOf = (cmd: ReleaseCommand) => {
    const { network, length } = parsePrefix(cmd.prefix);
    return (b: Block) => b.pool === cmd.pool && b.network === network && b.prefixLength === length && b.lifecycleId === cmd.lifecycleId && b.key !== '';
  };

  // A quarantined block stays in `blocks` (first fit walks past it) with its key spent ('').
  function release(cmd: ReleaseCommand): void {
    const block = blocks.find(isOf(cmd));
    if (block) block.key = '';
  }

  function free(cmd: ReleaseCommand): void {
    const { network, length } = parsePrefix(cmd.prefix);
    const at = blocks.findIndex((b) => b.pool === cmd.pool && b.network === network && b.prefixLength === length && b.lifecycleId === cmd.lifecycleId);
    if (at >= 0) blocks.splice(at, 1);
  }

  function utilization(): PoolUtilization[] {
    return [...pools.values()].map(({ info, parent }) => {
      const units = (list: Block[]) => Number(blocksUsed(parent, info.prefixLength, list.map((b) => ({ network: b.network, length: b.prefixLength }))));
      const all = blocksOf(info.name);
      return { ...info, capacity: Number(subnetCount(parent, info.prefixLength)), allocated: units(all), heldDown: units(all.filter((b) => b.key === '')) };
    });
  }

  return {
    calls,

    failNext: faults.failNext,

    allocations() {
      return blocks.filter((b) => b.key !== '').map(({ network: _n, last: _l, ...a }) => ({ ...a }));
    },

    quarantined() {
      return blocks.filter((b) => b.key === '').map(({ network: _n, last: _l, ...a }) => ({ ...a }));
    },

    async allocate(cmd, signal) {
      signal?.throwIfAborted();
      return call('allocate', cmd, () => allocate(cmd));
    },

    async release(cmd, signal) {
      signal?.throwIfAborted();
      return call('release', cmd, () => release(cmd));
    },

    async allocatedUnder(cmd, signal) {
      signal?.throwIfAborted();
      return call('allocatedUnder', cmd, () => allocatedUnder(cmd));
    },
    async free(cmd, signal) {
      signal?.throwIfAborted();
      return call('free', cmd, () => free(cmd));
    },

    async utilization(signal) {
      signal?.throwIfAborted();
      return call('utilization', null, utilization);
    },

    async adopt(cmd, signal) {
      signal?.throwIfAborted();
      return call('adopt', cmd, () => adopt(cmd));
    },

    async nestedHeld(pool, prefix, signal) {
      signal?.throwIfAborted();
      const block = parsePrefix(prefix);
      const [first, last] = [block.network, lastAddress(block)];
      const found = blocksOf(pool).filter((b) => b.key !== '' && b.network <= last && b.last >= first && !(b.network === first && b.last === last));
      return found.slice(0, NESTED_LIMIT).map((b) => ({ prefix: b.prefix, lifecycleId: b.lifecycleId }));
    },

    async markedPrefixes(signal) {
      signal?.throwIfAborted();
      return call('markedPrefixes', null, () => blocks.filter((b) => b.key !== '').map(({ pool, prefix, lifecycleId, key }) => ({ pool, prefix, lifecycleId, key })));
    },
  };
}
