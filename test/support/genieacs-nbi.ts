// A local GenieACS NBI that speaks the subset in ../shared/contracts/genieacs: task POSTs answered
// 200 or 202 with GenieACS's reason phrases, uniqueKey replacement, /tasks and /faults kept as the
// ACS keeps them (genieacs-acs.ts), device queries with projections, and 503s or a dead server to
// inject. GenieACS itself needs MongoDB, which cannot run here (see the contract's README).
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import { createStubAcs, type AddDeviceOptions, type DeviceMode, type Scalar, type StubDevice, type StubFault, type StubTask } from './genieacs-acs.ts';

export interface SeenRequest {
  method: string;
  /** The request target exactly as received, escapes untouched. */
  url: string;
  authorization: string | undefined;
  body: string;
}

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
  /** Task POSTs answer the task without its `_id` (a GenieACS build or proxy that drops it); the ACS still keeps it. */
  answerWithoutTaskId: boolean;
  /** Adds a device with the TR-181 PD model; the default id has a `%2D` escape, as real ids often do. */
  addDevice(opts?: AddDeviceOptions): StubDevice;
  device(id: string): StubDevice;
  value(id: string, path: string): Scalar | undefined;
  setMode(id: string, mode: DeviceMode): void;
  /** An operator deletes the device from the ACS (DELETE /devices/:id): its tasks and faults go with it. */
  deleteDevice(id: string): void;
  /** The CPE's next periodic inform: it comes online and its session runs the queued tasks, oldest first. */
  inform(id: string): void;
  tasks(device?: string): StubTask[];
  faults(device?: string): StubFault[];
  /** The next `times` matching requests get `status` (503 by default) and `body`, without any effect. */
  failNext(times: number, match?: { method?: string; path?: RegExp; status?: number; body?: string }): void;
  /** Down: every connection is dropped without an answer. */
  setDown(down: boolean): void;
  /** Forgets the faults queued by failNext, ends a setDown and the delay. */
  clearFaults(): void;
  close(): Promise<void>;
}

/** Starts the stub on 127.0.0.1 with an ephemeral port; with `auth`, every request needs that basic auth. */
export async function startGenieacsNbi(opts: { auth?: { username: string; password: string }; now?: () => number } = {}): Promise<GenieacsNbi> {
  const acs = createStubAcs(opts.now ?? Date.now);
  const failures: { times: number; method?: string; path?: RegExp; status: number; body?: string }[] = [];
  const sockets = new Set<Socket>();
  const requests: SeenRequest[] = [];
  let down = false;
  const wantAuth = opts.auth ? `Basic ${Buffer.from(`${opts.auth.username}:${opts.auth.password}`).toString('base64')}` : null;
  const matches = (doc: object, query: Record<string, unknown>) => Object.entries(query).every(([k, v]) => (doc as Record<string, unknown>)[k] === v);

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
      const d = acs.devices.get(decodeURIComponent(m[1]!));
      const cr = u.searchParams.has('connection_request');
      // A connection request without a task: 200 once the CPE took it (its session then runs the
      // queued tasks), 504 with the error as the reason phrase; no body and no flag is 400.
      if (!body && !cr) return { status: 400 };
      if (!body) {
        if (!d) return { status: 404, body: 'No such device' };
        if (d.mode === 'unreachable' || d.mode === 'offline') return { status: 504, reason: 'Connection request error: connect ECONNREFUSED 192.0.2.1:7547' };
        acs.session(d);
        return { status: 200 };
      }
      let raw: unknown;
      try {
        raw = JSON.parse(body);
      } catch (err) {
        return { status: 400, body: `${(err as Error).name}: ${(err as Error).message}` };
      }
      if (!d) return { status: 404, body: 'No such device' };
      // GenieACS v1.2.16 throws inside sanitizeTask and the worker dies: the client sees a dropped connection.
      if (!acs.sanitize(raw)) return 'drop';
      const queued = acs.queue(d, raw);
      const task = api.answerWithoutTaskId ? { ...queued, _id: undefined } : queued;
      if (!cr) return { status: 202, body: task };
      if (d.mode === 'unreachable') return { status: 202, reason: 'Connection request error: connect ECONNREFUSED 192.0.2.1:7547', body: task };
      if (d.mode === 'offline') return { status: 202, reason: 'Task queued but not processed', body: task };
      acs.session(d);
      if (acs.faults.has(`${d.id}:task_${queued._id}`)) return { status: 202, reason: 'Task faulted', body: task };
      return { status: 200, body: task };
    }
    if ((m = TASK.exec(path)) && (req.method === 'DELETE' || (req.method === 'POST' && m[2]))) {
      const id = decodeURIComponent(m[1]!);
      const task = acs.tasks.find((t) => t._id === id);
      if (!task) return { status: 404, body: 'Task not found' };
      acs.faults.delete(`${task.device}:task_${id}`);
      if (req.method === 'DELETE') acs.tasks = acs.tasks.filter((t) => t !== task);
      return { status: 200 };
    }
    if ((m = FAULT.exec(path)) && req.method === 'DELETE') {
      const f = acs.faults.get(decodeURIComponent(m[1]!));
      acs.faults.delete(decodeURIComponent(m[1]!));
      if (f?.channel.startsWith('task_')) acs.tasks = acs.tasks.filter((t) => t._id !== f.channel.slice(5));
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
        m[1] === 'devices' ? acs.queryDevices(query, projection) : m[1] === 'tasks' ? acs.tasks.filter((t) => matches(t, query)) : [...acs.faults.values()].filter((f) => matches(f, query));
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
    answerWithoutTaskId: false,
    addDevice: (o) => acs.addDevice(o),
    device: acs.need,
    value: (id, path) => acs.need(id).params.get(path)?.value,
    setMode(id, mode) {
      acs.need(id).mode = mode;
    },
    deleteDevice(id) {
      acs.need(id);
      acs.devices.delete(id);
      acs.tasks = acs.tasks.filter((t) => t.device !== id);
      for (const [key, f] of acs.faults) if (f.device === id) acs.faults.delete(key);
    },
    inform(id) {
      const d = acs.need(id);
      if (d.mode === 'offline' || d.mode === 'unreachable') d.mode = 'online';
      acs.session(d);
    },
    tasks: (device) => acs.tasks.filter((t) => device === undefined || t.device === device),
    faults: (device) => [...acs.faults.values()].filter((f) => device === undefined || f.device === device),
    failNext(times, match = {}) {
      failures.push({ times, ...match, status: match.status ?? 503 });
    },
    setDown(value) {
      down = value;
      if (value) for (const s of sockets) s.destroy();
    },
    clearFaults() {
      failures.splice(0);
      down = false;
      api.delayMs = 0;
    },
    async close() {
      server.closeAllConnections();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return api;
}
