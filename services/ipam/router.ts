import { ServiceError } from '../errors.ts';
import type { IpamPort, PoolUtilization } from './port.ts';

/** One IPAM port over several: each pool is served by the IPAM configuration names for it. */
export function createIpamRouter(byPool: Map<string, IpamPort>): IpamPort {
  const serving = (pool: string) => {
    const ipam = byPool.get(pool);
    if (!ipam) throw new ServiceError('not_found', `unknown pool ${pool}`, { field: 'pool' });
    return ipam;
  };
  const distinct = () => [...new Set(byPool.values())];
  return {
    kind: distinct().length === 1 ? distinct()[0]!.kind : 'embedded',
    allocate: (cmd, signal) => serving(cmd.pool).allocate(cmd, signal),
    release: (cmd, signal) => serving(cmd.pool).release(cmd, signal),
    async utilization(signal) {
      const all: PoolUtilization[] = [];
      for (const ipam of distinct()) all.push(...(await ipam.utilization(signal)));
      return all.filter((u) => byPool.get(u.name) !== undefined);
    },
    async held(signal) {
      const all = [];
      for (const ipam of distinct()) all.push(...(await ipam.held(signal)));
      return all;
    },
  };
}
