// What the stub ACS keeps and what its CPEs do: devices with a TR-181 parameter tree, the task
// queue and the faults as GenieACS stores them, and the CWMP session that runs a device's tasks.
// genieacs-nbi.ts puts GenieACS's NBI (HTTP) in front of it.
import { randomBytes } from 'node:crypto';

/**
 * `online`: the connection request starts a session at once. `offline`: no session starts.
 * `unreachable`: the connection request itself fails. `faulting`: sessions run, but the CPE
 * answers every SetParameterValues with the device's `fault`.
 */
export type DeviceMode = 'online' | 'offline' | 'unreachable' | 'faulting';
export type Scalar = string | number | boolean;

export interface StubParam {
  value: Scalar;
  type: string;
  writable: boolean;
}
export interface StubDevice {
  id: string;
  mode: DeviceMode;
  params: Map<string, StubParam>;
  /** The CWMP fault a `faulting` device answers with. */
  fault: { code: string; message: string };
  lastInform: string | null;
  /** SetParameterValues the CPE applied, in order. */
  applied: { taskId: string; parameterValues: unknown[] }[];
}
export interface StubTask {
  _id: string;
  device: string;
  name: string;
  timestamp: string;
  parameterValues?: [string, Scalar, string?][];
  uniqueKey?: string;
  expiry?: number;
  [k: string]: unknown;
}
export interface StubFault {
  _id: string;
  device: string;
  channel: string;
  code: string;
  message: string;
  detail: { faultCode: string; faultString: string; setParameterValuesFault: { parameterName: string; faultCode: string; faultString: string }[] };
  retries: number;
  timestamp: string;
}
export interface SeenRequest {
  method: string;
  /** The request target exactly as received, escapes untouched. */
  url: string;
  authorization: string | undefined;
  body: string;
}

/** The PD-relevant rows of genieacs-sim-tr181-pd.csv, PD off: `[value, type, writable]`. */
export const TR181_PD_MODEL: Record<string, [Scalar, string, boolean]> = {
  'Device.DeviceInfo.ProductClass': ['PD-CPE', 'xsd:string', false],
  'Device.IP.IPv6Capable': [true, 'xsd:boolean', false],
  'Device.IP.IPv6Enable': [true, 'xsd:boolean', true],
  'Device.IP.IPv6Status': ['Enabled', 'xsd:string', false],
  'Device.IP.Interface.1.IPv6Enable': [true, 'xsd:boolean', true],
  'Device.IP.Interface.2.Enable': [true, 'xsd:boolean', true],
  'Device.IP.Interface.2.IPv6Enable': [false, 'xsd:boolean', true],
  'Device.IP.Interface.2.Status': ['Up', 'xsd:string', false],
  'Device.DHCPv6.Client.1.Enable': [false, 'xsd:boolean', true],
  'Device.DHCPv6.Client.1.Interface': ['Device.IP.Interface.2', 'xsd:string', true],
  'Device.DHCPv6.Client.1.Status': ['Disabled', 'xsd:string', false],
  'Device.DHCPv6.Client.1.RequestAddresses': [false, 'xsd:boolean', true],
  'Device.DHCPv6.Client.1.RequestPrefixes': [true, 'xsd:boolean', true],
};

const TASK_NAMES = new Set(['getParameterValues', 'setParameterValues', 'refreshObject', 'addObject', 'deleteObject', 'download', 'reboot', 'factoryReset', 'provisions']);

/** Options of a device added to the stub. */
export interface AddDeviceOptions {
  id?: string;
  mode?: DeviceMode;
  params?: Record<string, [Scalar, string, boolean]>;
  fault?: { code: string; message: string };
}

/** The ACS's state; `tasks` is reassigned as it is filtered, so read it through this object, never keep it. */
export interface StubAcs {
  devices: Map<string, StubDevice>;
  tasks: StubTask[];
  /** By `_id`, `<device>:task_<task id>` for a task's fault. */
  faults: Map<string, StubFault>;
  need(id: string): StubDevice;
  addDevice(opts?: AddDeviceOptions): StubDevice;
  /** Queues `raw` as posted (the ACS sets `_id`, `device`, `timestamp`), replacing the device's task with its uniqueKey. */
  queue(d: StubDevice, raw: StubTask): StubTask;
  /** A CWMP session: every queued task of the device, oldest first; faulted ones are tried again. */
  session(d: StubDevice): void;
  /** True when GenieACS v1.2.16's sanitizeTask would accept the task. */
  sanitize(raw: unknown): raw is StubTask;
  queryDevices(query: Record<string, unknown>, projection: string[] | null): unknown[];
}

export function createStubAcs(now: () => number): StubAcs {
  const devices = new Map<string, StubDevice>();
  const faults = new Map<string, StubFault>();
  let serial = 0;
  let taskCounter = 0;
  const iso = () => new Date(now()).toISOString();
  // An ObjectId: seconds, a per-process random part, a counter; so _id order is insertion order,
  // the order GenieACS runs a device's tasks in.
  const processPart = randomBytes(5).toString('hex');
  const objectId = () => Math.floor(now() / 1000).toString(16).padStart(8, '0') + processPart + (++taskCounter).toString(16).padStart(6, '0');

  function need(id: string): StubDevice {
    const d = devices.get(id);
    if (!d) throw new Error(`no stub device ${id}`);
    return d;
  }

  /** One SetParameterValues on the CPE: all or nothing (TR-069 A.3.2.1). */
  function setParameterValues(d: StubDevice, task: StubTask): StubFault | null {
    const bad: StubFault['detail']['setParameterValuesFault'] = [];
    for (const [path] of task.parameterValues ?? []) {
      const p = d.params.get(path);
      if (d.mode === 'faulting') bad.push({ parameterName: path, faultCode: d.fault.code, faultString: d.fault.message });
      else if (!p) bad.push({ parameterName: path, faultCode: '9005', faultString: 'Invalid parameter name' });
      else if (!p.writable) bad.push({ parameterName: path, faultCode: '9008', faultString: 'Attempt to set a non-writable parameter' });
    }
    if (bad.length > 0) {
      // A faulting CPE reports its code at the top; a bad path is 9003 with the per-parameter codes.
      const top = d.mode === 'faulting' ? d.fault : { code: '9003', message: 'Invalid arguments' };
      const channel = `task_${task._id}`;
      const old = faults.get(`${d.id}:${channel}`);
      return {
        _id: `${d.id}:${channel}`, device: d.id, channel, code: `cwmp.${top.code}`, message: top.message,
        detail: { faultCode: top.code, faultString: top.message, setParameterValuesFault: bad },
        retries: old ? old.retries + 1 : 0, timestamp: iso(),
      };
    }
    for (const [path, value] of task.parameterValues ?? []) d.params.get(path)!.value = value;
    d.applied.push({ taskId: task._id, parameterValues: task.parameterValues ?? [] });
    return null;
  }

  function session(d: StubDevice): void {
    d.lastInform = iso();
    acs.tasks = acs.tasks.filter((t) => t.expiry === undefined || Date.parse(t.timestamp) + t.expiry * 1000 > now());
    for (const t of acs.tasks.filter((t) => t.device === d.id).sort((a, b) => a._id.localeCompare(b._id))) {
      const fault = t.name === 'setParameterValues' ? setParameterValues(d, t) : null;
      if (fault) {
        faults.set(fault._id, fault);
        continue;
      }
      faults.delete(`${d.id}:task_${t._id}`);
      acs.tasks = acs.tasks.filter((x) => x !== t);
    }
  }

  function sanitize(raw: unknown): raw is StubTask {
    if (typeof raw !== 'object' || raw === null) return false;
    const t = raw as Record<string, unknown>;
    if (typeof t.name !== 'string' || !TASK_NAMES.has(t.name)) return false;
    if (t.name !== 'setParameterValues') return true;
    const pv = t.parameterValues;
    return Array.isArray(pv) && pv.length > 0 && pv.every((e) => Array.isArray(e) && e.length >= 2 && e.length <= 3 && typeof e[0] === 'string' && ['string', 'number', 'boolean'].includes(typeof e[1]));
  }

  function deviceDoc(d: StubDevice, projection: string[] | null): Record<string, unknown> {
    const doc: Record<string, unknown> = { _id: d.id, _lastInform: d.lastInform, _deviceId: { _SerialNumber: d.id.split('-').pop() } };
    for (const [path, p] of d.params) {
      if (projection && !projection.some((want) => path === want || path.startsWith(`${want}.`))) continue;
      let node = doc;
      for (const part of path.split('.').slice(0, -1)) node = (node[part] ??= { _object: true }) as Record<string, unknown>;
      node[path.split('.').pop()!] = { _value: p.value, _type: p.type, _writable: p.writable, _timestamp: d.lastInform };
    }
    return doc;
  }

  function queryDevices(query: Record<string, unknown>, projection: string[] | null): unknown[] {
    return [...devices.values()]
      .filter((d) =>
        Object.entries(query).every(([k, v]) => {
          // `{"$in": [...]}` as MongoDB reads it (a batched lookup of many devices); otherwise equality.
          const hit = (x: unknown) => (isIn(v) ? v.$in.includes(x) : x === v);
          return k === '_id' ? hit(d.id) : k.startsWith('_') ? false : hit(d.params.get(k.replace(/\._value$/, ''))?.value);
        }),
      )
      .map((d) => deviceDoc(d, projection));
  }

  const isIn = (v: unknown): v is { $in: unknown[] } => typeof v === 'object' && v !== null && Array.isArray((v as { $in?: unknown }).$in);

  const acs: StubAcs = {
    devices,
    tasks: [],
    faults,
    need,
    addDevice(o = {}) {
      const id = o.id ?? `00AABB-PD%2DCPE-SIM${String(++serial).padStart(4, '0')}`;
      const model = o.params ?? TR181_PD_MODEL;
      const params = new Map(Object.entries(model).map(([k, [value, type, writable]]) => [k, { value, type, writable }]));
      const d: StubDevice = { id, mode: o.mode ?? 'online', params, fault: o.fault ?? { code: '9005', message: 'Invalid parameter name' }, lastInform: null, applied: [] };
      devices.set(id, d);
      return d;
    },
    queue(d, raw) {
      const task: StubTask = { ...raw, _id: objectId(), device: d.id, timestamp: iso() };
      if (task.uniqueKey !== undefined) acs.tasks = acs.tasks.filter((t) => !(t.device === d.id && t.uniqueKey === task.uniqueKey));
      acs.tasks.push(task);
      return task;
    },
    session,
    sanitize,
    queryDevices,
  };
  return acs;
}
