import { ServiceError } from '../errors.ts';
import type { IpamPort, PoolUtilization } from './port.ts';

/** The optional hooks some IPAMs add to the port: a start-up check and a hold-down sweep. */
interface OptionalHooks {
  init?: (signal?: AbortSignal) => Promise<unknown>;
  sweep?: (signal?: AbortSignal) => Promise<unknown>;
}

/** One IPAM port over several: each pool is served by the IPAM configuration names for it. */
export function createIpamRouter(byPool: Map<string, IpamPort>): IpamPort & { init(): Promise<void>; sweep(): Promise<unknown[]> } {
  const serving = (pool: string) => {
    const ipam = byPool.get(pool);
    if (!ipam) throw new ServiceError('not_found', `unknown pool ${pool}`, { field: 'pool' });
    return ipam;
  };
  const distinct = () => [...new Set(byPool.values())];
  const each = async (method: keyof OptionalHooks, signal?: AbortSignal) => {
    const out: unknown[] = [];
    for (const ipam of distinct() as (IpamPort & OptionalHooks)[]) {
      const fn = ipam[method];
      if (typeof fn === 'function') out.push(await fn.call(ipam, signal));
    }
    return out;
  };
  return {
    /** Checks every IPAM at start-up (NetBox: looks the parent prefixes up). */
    init: async (signal?: AbortSignal) => void (await each('init', signal)),
    /** Runs every IPAM's hold-down sweep (NetBox `deprecate` mode). */
    sweep: (signal?: AbortSignal) => each('sweep', signal),
    // async, so an unknown pool rejects the promise as the port promises instead of throwing at the call.
    allocate: async (cmd, signal) => serving(cmd.pool).allocate(cmd, signal),
    release: async (cmd, signal) => serving(cmd.pool).release(cmd, signal),
    allocatedUnder: async (cmd, signal) => serving(cmd.pool).allocatedUnder(cmd, signal),
    free: async (cmd, signal) => serving(cmd.pool).free(cmd, signal),
    async utilization(signal) {
      const all: PoolUtilization[] = [];
      for (const ipam of distinct()) all.push(...(await ipam.utilization(signal)));
      return all.filter((u) => byPool.get(u.name) !== undefined);
    },
    async markedPrefixes(signal) {
      const all = [];
      for (const ipam of distinct()) all.push(...(await ipam.markedPrefixes(signal)));
      return all;
    },
  };
}
