import { ServiceError } from '../errors.ts';
import type { Allocation, IpamPort, MarkedPrefix, PoolUtilization } from './port.ts';

/** The optional hooks some IPAMs add to the port: a start-up check and a hold-down sweep. */
interface OptionalHooks {
  init?: (signal?: AbortSignal) => Promise<unknown>;
  sweep?: (signal?: AbortSignal) => Promise<unknown>;
  /** NetBox: every prefix under the pools' parents, marked or not (services/field/ipam.ts reads it). */
  fieldPrefixes?: (signal?: AbortSignal) => Promise<unknown>;
}

/**
 * A pool the configuration no longer names while lifecycles still use it. It takes no new
 * allocation; its releases and frees go to every IPAM that may hold its prefixes (each is
 * idempotent, and giving back what an IPAM does not hold is success there).
 */
export interface DrainingRoute {
  name: string;
  /** Its parent as the embedded IPAM last knew it; '' when not known (a NetBox pool). */
  prefix: string;
  prefixLength: number;
  ipams: IpamPort[];
}

export interface Draining {
  pools: DrainingRoute[];
  /** Who still uses the pool: live lifecycles, and blocks an IPAM has not freed yet. */
  users(pool: string): { lifecycles: number; blocks: number };
}

/** One IPAM port over several: each pool is served by the IPAM configuration names for it. */
export function createIpamRouter(
  byPool: Map<string, IpamPort>,
  draining: Draining = { pools: [], users: () => ({ lifecycles: 0, blocks: 0 }) },
): IpamPort & {
  init(): Promise<void>;
  sweep(): Promise<unknown[]>;
  markedPages(signal?: AbortSignal): AsyncIterable<MarkedPrefix[]>;
  fieldPrefixes(signal?: AbortSignal): Promise<unknown[]>;
} {
  const drainingByName = new Map(draining.pools.filter((d) => !byPool.has(d.name)).map((d) => [d.name, d]));
  const serving = (pool: string) => {
    const ipam = byPool.get(pool);
    if (ipam) return ipam;
    if (drainingByName.has(pool)) throw drainingError(pool, draining.users(pool).lifecycles);
    throw new ServiceError('not_found', `unknown pool ${pool}`, { field: 'pool' });
  };
  /** The IPAMs that give back a pool's prefixes: its own, or every one that may hold a draining pool's. */
  const givingBack = (pool: string): IpamPort[] => {
    const d = drainingByName.get(pool);
    return d ? d.ipams : [serving(pool)];
  };
  const distinct = () => [...new Set([...byPool.values(), ...draining.pools.flatMap((d) => d.ipams)])];
  const each = async (method: keyof OptionalHooks, signal?: AbortSignal) => {
    const out: unknown[] = [];
    for (const ipam of [...new Set(byPool.values())] as (IpamPort & OptionalHooks)[]) {
      const fn = ipam[method];
      if (typeof fn === 'function') out.push(await fn.call(ipam, signal));
    }
    return out;
  };
  async function* markedPages(signal?: AbortSignal): AsyncIterable<MarkedPrefix[]> {
    for (const ipam of distinct()) yield* markedPagesOf(ipam, signal);
  }
  return {
    /** Checks every IPAM at start-up (NetBox: looks the parent prefixes up). */
    init: async (signal?: AbortSignal) => void (await each('init', signal)),
    /** Runs every IPAM's hold-down sweep (NetBox `deprecate` mode). */
    sweep: (signal?: AbortSignal) => each('sweep', signal),
    fieldPrefixes: async (signal?: AbortSignal) => (await each('fieldPrefixes', signal)).flat(),
    // async, so an unknown pool rejects the promise as the port promises instead of throwing at the call.
    allocate: async (cmd, signal) => serving(cmd.pool).allocate(cmd, signal),
    adopt: async (cmd, signal) => serving(cmd.pool).adopt(cmd, signal),
    adoptionRefusal: async (cmd, signal) => (await serving(cmd.pool).adoptionRefusal?.(cmd, signal)) ?? null,
    nestedHeld: async (pool, prefix, signal) => (await serving(pool).nestedHeld?.(pool, prefix, signal)) ?? [],
    allocateNow: (cmd) => {
      const ipam = serving(cmd.pool);
      return ipam.allocateNow ? ipam.allocateNow(cmd) : null;
    },
    async release(cmd, signal) {
      for (const ipam of givingBack(cmd.pool)) await ipam.release(cmd, signal);
    },
    async allocatedUnder(cmd, signal) {
      const out: Allocation[] = [];
      for (const ipam of givingBack(cmd.pool)) append(out, await ipam.allocatedUnder(cmd, signal));
      return out;
    },
    async free(cmd, signal) {
      for (const ipam of givingBack(cmd.pool)) await ipam.free(cmd, signal);
    },
    async utilization(signal) {
      const all: PoolUtilization[] = [];
      for (const ipam of new Set(byPool.values())) append(all, await ipam.utilization(signal));
      const configured = all.filter((u) => byPool.get(u.name) !== undefined).map((u) => ({ ...u, draining: false }));
      // A draining pool can hand out nothing (capacity 0); it is listed until nothing of it is left.
      const drained = [...drainingByName.values()].flatMap((d): PoolUtilization[] => {
        const { lifecycles, blocks } = draining.users(d.name);
        if (lifecycles === 0 && blocks === 0) return [];
        return [{ name: d.name, prefix: d.prefix, prefixLength: d.prefixLength, capacity: 0, allocated: lifecycles, heldDown: 0, draining: true }];
      });
      return [...configured, ...drained];
    },
    async markedPrefixes(signal) {
      const all: MarkedPrefix[] = [];
      for await (const page of markedPages(signal)) append(all, page);
      return all;
    },
    markedPages,
  };
}

/**
 * Appends one by one: `out.push(...items)` passes every item as an argument on the stack, which
 * overflows it (RangeError) at about 122k (the leak check's IPAM holdings at an ISP's size).
 */
function append<T>(out: T[], items: readonly T[]): void {
  for (const item of items) out.push(item);
}

/** An IPAM's holdings a page at a time: its own pages, else all of markedPrefixes() as one. */
export async function* markedPagesOf(ipam: IpamPort, signal?: AbortSignal): AsyncIterable<MarkedPrefix[]> {
  if (typeof ipam.markedPages === 'function') yield* ipam.markedPages(signal);
  else yield await ipam.markedPrefixes(signal);
}

/** The refusal of an allocation in a draining pool: the same shape as an unknown pool's, saying why. */
export function drainingError(pool: string, lifecycles: number): ServiceError {
  return new ServiceError(
    'not_found',
    `pool "${pool}" is draining: it was removed from the configuration and takes no new allocation; ${lifecycles} live lifecycle(s) still use it`,
    { field: 'pool' },
  );
}
