import { createFaults } from '../faults.ts';
import type { CpeCommand, CpePort, CpeResult } from './port.ts';

type CpeOp = 'configurePd' | 'removeIpv6';

interface FakeCpeState {
  /** The prefix configured on the CPE, or null when IPv6 is removed. */
  prefix: string | null;
  /** Commands applied, in order. */
  log: { op: CpeOp; key: string; prefix: string | null }[];
}

/** In-memory CPE port: CPEs listed in `offline` answer `queued` until brought online; faults per operation. */
export function createFakeCpe() {
  const cpes = new Map<string, FakeCpeState>();
  const offline = new Set<string>();
  const faults = createFaults<CpeOp>('fake cpe');
  const state = (id: string) => {
    let s = cpes.get(id);
    if (!s) cpes.set(id, (s = { prefix: null, log: [] }));
    return s;
  };
  const apply = (op: CpeOp, cmd: CpeCommand, prefix: string | null): CpeResult =>
    faults.run(op, () => {
      if (offline.has(cmd.cpeId)) return { status: 'queued', taskId: `task-${cmd.key}` };
      const s = state(cmd.cpeId);
      s.prefix = prefix;
      s.log.push({ op, key: cmd.key, prefix });
      return { status: 'done' };
    });
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
    /** Makes the next call(s) of `op` throw; by default a retryable `upstream_unavailable`. */
    failNext: faults.failNext,
  };
}
