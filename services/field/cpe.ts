// What the CPEs say about DHCPv6 prefix delegation, as GenieACS last saw them: one NBI projection
// query per batch of devices (`{"_id": {"$in": [...]}}`), reading only the parameters this service
// switches (services/genieacs/profiles.ts). Reading never queues a task nor wakes a CPE: it is
// GenieACS's stored copy, as fresh as the device's last inform.
import { ServiceError } from '../errors.ts';
import type { GenieacsConfig } from '../genieacs/config.ts';
import { pdParameters } from '../genieacs/profiles.ts';
import { createNbiHttp } from '../genieacs/genieacs.ts';
import { valueAt } from '../genieacs/nbi-records.ts';

/**
 * `delegating`: every parameter configurePd sets holds the value it sets (the CPE asks for a
 * prefix); `off`: some does not; `missing`: GenieACS has no such device.
 */
export type PdState = 'delegating' | 'off' | 'missing';

export interface CpeObservation {
  cpeId: string;
  pd: PdState;
  /** GenieACS's `_lastInform` of the device (ISO), null when never or missing. */
  lastInform: string | null;
}

export interface CpeFieldReader {
  /** Observations of `cpeIds`, in batches of `batchSize` devices per NBI request. */
  observe(cpeIds: string[], opts?: { batchSize?: number; signal?: AbortSignal }): Promise<Map<string, CpeObservation>>;
}

const DEFAULT_BATCH = 100;

/** A reader on the configured NBI; basic-auth credentials come from the environment, as for the CPE port. */
export function createCpeFieldReader(config: GenieacsConfig, deps: { env?: Record<string, string | undefined> } = {}): CpeFieldReader {
  const { http } = createNbiHttp(config, deps.env ?? process.env);
  const on = pdParameters(config, 'enable');
  const projection = on.map((p) => p[0]).join(',');

  async function batch(ids: string[], signal?: AbortSignal): Promise<unknown[]> {
    const query = encodeURIComponent(JSON.stringify({ _id: { $in: ids } }));
    const what = `GenieACS GET devices (${ids.length})`;
    let res;
    try {
      res = await http.get<unknown>(`/devices/?query=${query}&projection=${encodeURIComponent(projection)}`, { signal });
    } catch (err) {
      const code = (err as { code?: string }).code ?? 'network error';
      throw new ServiceError('upstream_unavailable', `${what}: ${code}`, { retryable: true });
    }
    if (res.status >= 500) throw new ServiceError('upstream_unavailable', `${what}: ${res.status}`, { retryable: true });
    if (res.status !== 200 || !Array.isArray(res.data)) throw new ServiceError('upstream_rejected', `${what}: ${res.status}`);
    return res.data;
  }

  return {
    async observe(cpeIds, { batchSize = DEFAULT_BATCH, signal } = {}) {
      const out = new Map<string, CpeObservation>();
      const ids = [...new Set(cpeIds)];
      for (let i = 0; i < ids.length; i += batchSize) {
        const chunk = ids.slice(i, i + batchSize);
        for (const doc of await batch(chunk, signal)) {
          if (typeof doc !== 'object' || doc === null || typeof (doc as { _id?: unknown })._id !== 'string') continue;
          const id = (doc as { _id: string })._id;
          const isOn = on.every(([path, value]) => String(valueAt(doc, path)) === String(value));
          const last = (doc as { _lastInform?: unknown })._lastInform;
          out.set(id, { cpeId: id, pd: isOn ? 'delegating' : 'off', lastInform: typeof last === 'string' ? last : null });
        }
        for (const id of chunk) if (!out.has(id)) out.set(id, { cpeId: id, pd: 'missing', lastInform: null });
      }
      return out;
    },
  };
}
