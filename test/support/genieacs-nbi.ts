// A local GenieACS NBI that speaks the subset in ../shared/contracts/genieacs: task POSTs answered
// 200 or 202 with GenieACS's reason phrases, uniqueKey replacement, /tasks and /faults kept as the
// ACS keeps them, device queries with projections, and 503s or a dead server to inject. GenieACS
// itself needs MongoDB, which cannot run here (see the contract's README).
import { randomBytes } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';

/**
 * `online`: the connection request starts a session at once. `offline`: no session starts.
 * `unreachable`: the connection request itself fails. `faulting`: sessions run, but the CPE
 * answers every SetParameterValues with the device's `fault`.
 */
export type DeviceMode = 'online' | 'offline' | 'unreachable' | 'faulting';
type Scalar = string | number | boolean;

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
const DEVICE_TASKS = /^\/devices\/([a-zA-Z0-9\-_%]+)\/tasks\/?$/;
const TASK = /^\/tasks\/([a-zA-Z0-9\-_%]+)(\/retry)?\/?$/;
const FAULT = /^\/faults\/([a-zA-Z0-9\-_%:]+)\/?$/;
const COLLECTION = /^\/(devices|tasks|faults)\/?$/;

/** The stub server and the knobs tests turn. */
export interface GenieacsNbi {
  url: string;
  requests: SeenRequest[];
  /** Added before every request is handled. */
  delayMs: number;
  /** Adds a device with the TR-181 PD model; the default id has a `%2D` escape, as real ids often do. */
  addDevice(opts?: { id?: string; mode?: DeviceMode; params?: Record<string, [Scalar, string, boolean]>; fault?: { code: string; message: string } }): StubDevice;
  device(id: string): StubDevice;
  value(id: string, path: string): Scalar | undefined;
  setMode(id: string, mode: DeviceMode): void;
  /** The CPE's next periodic inform: it comes online and its session runs the queued tasks, oldest first. */
  inform(id: string): void;
  tasks(device?: string): StubTask[];
  faults(device?: string): StubFault[];
  /** The next `times` matching requests get `status` (503 by default) and `body`, without any effect. */
  failNext(times: number, match?: { method?: string; path?: RegExp; status?: number; body?: string }): void;
  /** Down: every connection is dropped without an answer. */
  setDown(down: boolean): void;
  close(): Promise<void>;
}

/** Starts the stub on 127.0.0.1 with an ephemeral port; with `auth`, every request needs that basic auth. */
export async function startGenieacsNbi(opts: { auth?: { username: string; password: string }; now?: () => number } = {}): Promise<GenieacsNbi> {
  const now = opts.now ?? Date.now;
  const devices = new Map<string, StubDevice>();
  let tasks: StubTask[] = [];
  const faults = new Map<string, StubFault>();
  const failures: { times: number; method?: string; path?: RegExp; status: number; body?: string }[] = [];
  const sockets = new Set<Socket>();
  const requests: SeenRequest[] = [];
  let down = false;
  let serial = 0;
  let taskCounter = 0;
  const wantAuth = opts.auth ? `Basic ${Buffer.from(`${opts.auth.username}:${opts.auth.password}`).toString('base64')}` : null;
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

  /** A CWMP session: every queued task of the device, oldest first; faulted ones are tried again. */
  function session(d: StubDevice): void {
    d.lastInform = iso();
    tasks = tasks.filter((t) => t.expiry === undefined || Date.parse(t.timestamp) + t.expiry * 1000 > now());
    for (const t of tasks.filter((t) => t.device === d.id).sort((a, b) => a._id.localeCompare(b._id))) {
      const fault = t.name === 'setParameterValues' ? setParameterValues(d, t) : null;
      if (fault) {
        faults.set(fault._id, fault);
        continue;
      }
      faults.delete(`${d.id}:task_${t._id}`);
      tasks = tasks.filter((x) => x !== t);
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

  const matches = (doc: object, query: Record<string, unknown>) => Object.entries(query).every(([k, v]) => (doc as Record<string, unknown>)[k] === v);

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
        Object.entries(query).every(([k, v]) => (k === '_id' ? d.id === v : k.startsWith('_') ? false : d.params.get(k.replace(/\._value$/, ''))?.value === v)),
      )
      .map((d) => deviceDoc(d, projection));
  }

  type Answer = { status: number; reason?: string; body?: unknown; headers?: Record<string, string> } | 'drop';

  function handle(req: IncomingMessage, body: string): Answer {
    const u = new URL(req.url ?? '/', 'http://stub');
    const path = u.pathname;
    const fail = failures.find((f) => f.times > 0 && (!f.method || f.method === req.method) && (!f.path || f.path.test(path)));
    if (fail) {
      fail.times--;
      return { status: fail.status, body: fail.body ?? 'injected fault' };
    }
    if (wantAuth && req.headers.authorization !== wantAuth) return { status: 401, body: 'Unauthorized', headers: { 'WWW-Authenticate': 'Basic realm="GenieACS"' } };
    let m: RegExpExecArray | null;
    if ((m = DEVICE_TASKS.exec(path)) && req.method === 'POST') {
      const d = devices.get(decodeURIComponent(m[1]!));
      const cr = u.searchParams.has('connection_request');
      // A connection request without a task is not part of the subset this service uses.
      if (!body) return { status: 400 };
      let raw: unknown;
      try {
        raw = JSON.parse(body);
      } catch (err) {
        return { status: 400, body: `${(err as Error).name}: ${(err as Error).message}` };
      }
      if (!d) return { status: 404, body: 'No such device' };
      // GenieACS v1.2.16 throws inside sanitizeTask and the worker dies: the client sees a dropped connection.
      if (!sanitize(raw)) return 'drop';
      const task: StubTask = { ...raw, _id: objectId(), device: d.id, timestamp: iso() };
      if (task.uniqueKey !== undefined) tasks = tasks.filter((t) => !(t.device === d.id && t.uniqueKey === task.uniqueKey));
      tasks.push(task);
      if (!cr) return { status: 202, body: task };
      if (d.mode === 'unreachable') return { status: 202, reason: 'Connection request error: connect ECONNREFUSED 192.0.2.1:7547', body: task };
      if (d.mode === 'offline') return { status: 202, reason: 'Task queued but not processed', body: task };
      session(d);
      if (faults.has(`${d.id}:task_${task._id}`)) return { status: 202, reason: 'Task faulted', body: task };
      return { status: 200, body: task };
    }
    if ((m = TASK.exec(path)) && (req.method === 'DELETE' || (req.method === 'POST' && m[2]))) {
      const id = decodeURIComponent(m[1]!);
      const task = tasks.find((t) => t._id === id);
      if (!task) return { status: 404, body: 'Task not found' };
      faults.delete(`${task.device}:task_${id}`);
      if (req.method === 'DELETE') tasks = tasks.filter((t) => t !== task);
      return { status: 200 };
    }
    if ((m = FAULT.exec(path)) && req.method === 'DELETE') {
      const f = faults.get(decodeURIComponent(m[1]!));
      faults.delete(decodeURIComponent(m[1]!));
      if (f?.channel.startsWith('task_')) tasks = tasks.filter((t) => t._id !== f.channel.slice(5));
      return { status: 200 };
    }
    if ((m = COLLECTION.exec(path)) && req.method === 'GET') {
      let query: Record<string, unknown>;
      try {
        query = JSON.parse(u.searchParams.get('query') ?? '{}') as Record<string, unknown>;
      } catch (err) {
        return { status: 400, body: `${(err as Error).name}: ${(err as Error).message}` };
      }
      const projection = u.searchParams.get('projection')?.split(',').filter(Boolean) ?? null;
      const found =
        m[1] === 'devices' ? queryDevices(query, projection) : m[1] === 'tasks' ? tasks.filter((t) => matches(t, query)) : [...faults.values()].filter((f) => matches(f, query));
      return { status: 200, body: found, headers: { total: String(found.length) } };
    }
    return { status: 404, body: '404 Not Found' };
  }

  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = Buffer.concat(chunks).toString('utf8');
      requests.push({ method: req.method ?? '', url: req.url ?? '', authorization: req.headers.authorization, body });
      setTimeout(() => {
        if (down) return void req.socket.destroy();
        const a = handle(req, body);
        if (a === 'drop') return void req.socket.destroy();
        const json = typeof a.body !== 'string' && a.body !== undefined;
        const headers = { 'GenieACS-Version': '1.2.16', 'Content-Type': json ? 'application/json' : 'text/plain', ...a.headers };
        if (a.reason) res.writeHead(a.status, a.reason, headers);
        else res.writeHead(a.status, headers);
        res.end(a.body === undefined ? '' : json ? JSON.stringify(a.body) : String(a.body));
      }, api.delayMs);
    });
  });
  server.on('connection', (s: Socket) => {
    if (down) return void s.destroy();
    sockets.add(s);
    s.on('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const { port } = server.address() as AddressInfo;

  const api: GenieacsNbi = {
    url: `http://127.0.0.1:${port}`,
    requests,
    delayMs: 0,
    addDevice(o = {}) {
      const id = o.id ?? `00AABB-PD%2DCPE-SIM${String(++serial).padStart(4, '0')}`;
      const model = o.params ?? TR181_PD_MODEL;
      const params = new Map(Object.entries(model).map(([k, [value, type, writable]]) => [k, { value, type, writable }]));
      const d: StubDevice = { id, mode: o.mode ?? 'online', params, fault: o.fault ?? { code: '9005', message: 'Invalid parameter name' }, lastInform: null, applied: [] };
      devices.set(id, d);
      return d;
    },
    device: need,
    value: (id, path) => need(id).params.get(path)?.value,
    setMode(id, mode) {
      need(id).mode = mode;
    },
    inform(id) {
      const d = need(id);
      if (d.mode === 'offline' || d.mode === 'unreachable') d.mode = 'online';
      session(d);
    },
    tasks: (device) => tasks.filter((t) => device === undefined || t.device === device),
    faults: (device) => [...faults.values()].filter((f) => device === undefined || f.device === device),
    failNext(times, match = {}) {
      failures.push({ times, ...match, status: match.status ?? 503 });
    },
    setDown(value) {
      down = value;
      if (value) for (const s of sockets) s.destroy();
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return api;
}
