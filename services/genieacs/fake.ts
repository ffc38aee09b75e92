import { ServiceError } from '../errors.ts';
import type { CpeCommand, CpePort, CpeResult } from './port.ts';

interface FakeCpeState {
  /** The prefix configured on the CPE, or null when IPv6 is removed. */
  prefix: string | null;
  /** Commands applied, in order. */
  log: { op: 'configurePd' | 'removeIpv6'; key: string; prefix: string | null }[];
}

/** In-memory CPE port: CPEs listed in `offline` answer `queued` until brought online. */
export function createFakeCpe() {
  const cpes = new Map<string, FakeCpeState>();
  const offline = new Set<string>();
  const faults: ServiceError[] = [];
  const state = (id: string) => {
    let s = cpes.get(id);
    if (!s) cpes.set(id, (s = { prefix: null, log: [] }));
    return s;
  };
  const apply = (op: 'configurePd' | 'removeIpv6', cmd: CpeCommand, prefix: string | null): CpeResult => {
    const fault = faults.shift();
    if (fault) throw fault;
    if (offline.has(cmd.cpeId)) return { status: 'queued', taskId: `task-${cmd.key}` };
    const s = state(cmd.cpeId);
    s.prefix = prefix;
    s.log.push({ op, key: cmd.key, prefix });
    return { status: 'done' };
  };
  const port: CpePort = {
    configurePd: async (cmd) => apply('configurePd', cmd, cmd.prefix),
    removeIpv6: async (cmd) => apply('removeIpv6', cmd, null),
  };
  return {
    port,
    cpe: (id: string): FakeCpeState | undefined => cpes.get(id),
    setOnline(id: string, online: boolean) {
      if (online) offline.delete(id);
      else offline.add(id);
    },
    /** The next calls throw these errors, one each. */
    failNext(...errors: ServiceError[]) {
      faults.push(...errors);
    },
  };
}
