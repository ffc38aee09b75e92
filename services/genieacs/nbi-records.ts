// What the GenieACS client reads from and checks against the NBI's records: device ids, task and
// fault records, and device documents (../shared/contracts/genieacs).
import { ServiceError } from '../errors.ts';

/** A task as the NBI echoes it or `/tasks/` lists it (the fields read here). */
export interface TaskRecord {
  _id?: unknown;
  uniqueKey?: unknown;
}

/** A fault as `/faults/` lists it (the fields read here). */
export interface FaultRecord {
  code?: unknown;
  message?: unknown;
  detail?: { setParameterValuesFault?: { parameterName?: unknown; faultCode?: unknown; faultString?: unknown }[] } | null;
}

// GenieACS routes /devices/:id/tasks only for [a-zA-Z0-9\-_%] and decodes the id with
// decodeURIComponent, which throws on a stray `%`: anything else cannot name a device there.
const DEVICE_ID = /^(?:[A-Za-z0-9_-]|%[0-9A-Fa-f]{2}){1,256}$/;

/** Throws `validation_error` unless `id` is a GenieACS device id the NBI can route. */
export function checkDeviceId(id: unknown): string {
  if (typeof id !== 'string' || !DEVICE_ID.test(id)) {
    const shown = typeof id === 'string' ? JSON.stringify(id.slice(0, 80)) : typeof id;
    throw new ServiceError('validation_error', `cpe_id ${shown} is not a GenieACS device id (OUI-ProductClass-Serial, [A-Za-z0-9_-] and %XX escapes)`, {
      field: 'cpe_id',
    });
  }
  return id;
}
/** `cwmp.9005 Invalid parameter name (Device.X.Y: 9005 Invalid parameter name)`, bounded in length. */
export function describeFault(f: FaultRecord): string {
  const params = (f.detail?.setParameterValuesFault ?? [])
    .slice(0, 3)
    .map((p) => `${String(p.parameterName)}: ${String(p.faultCode)} ${String(p.faultString)}`);
  return `${String(f.code ?? 'unknown fault')} ${String(f.message ?? '')}`.trim() + (params.length ? ` (${params.join('; ')})` : '');
}

/** The `_value` at a parameter path of a device document (nested by path segment). */
export function valueAt(doc: unknown, path: string): unknown {
  let node: unknown = doc;
  for (const part of path.split('.')) {
    if (typeof node !== 'object' || node === null) return undefined;
    node = (node as Record<string, unknown>)[part];
  }
  return typeof node === 'object' && node !== null ? (node as { _value?: unknown })._value : undefined;
}
