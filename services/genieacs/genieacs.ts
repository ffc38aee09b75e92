// The CPE port on GenieACS's NBI: one setParameterValues task per command, identified by a
// uniqueKey derived from the command's idempotency key, so a re-run step replaces its own task
// instead of adding one. The answer's status and reason phrase say done, queued or faulted
// (GenieACS lib/nbi.ts; ../shared/contracts/genieacs/README.md).
import { Agent as HttpAgent } from 'node:http';
import { Agent as HttpsAgent } from 'node:https';
import axios, { type AxiosInstance, type AxiosResponse, type Method } from 'axios';
import type { Logger } from 'pino';
import { ServiceError } from '../errors.ts';
import { PEER_ANSWER_MAX_BYTES, transportFault } from '../peer-url.ts';
import { peerExcerpt, redactor } from '../redact.ts';
import type { GenieacsConfig } from './config.ts';
import type { CpeCommand, CpePort, CpeResult } from './port.ts';
import { checkDeviceId, describeFault, valueAt, type FaultRecord, type TaskRecord } from './nbi-records.ts';
import { pdParameters, type ParameterValue } from './profiles.ts';

/** Test seams: the environment the basic-auth credentials are read from. */
export interface GenieacsDeps {
  env?: Record<string, string | undefined>;
}

type Op = 'configurePd' | 'removeIpv6';

interface SetParameterValuesTask {
  name: 'setParameterValues';
  parameterValues: ParameterValue[];
  uniqueKey: string;
  expiry: number;
}

const FAULTED = 'Task faulted';
const q = (o: unknown) => encodeURIComponent(JSON.stringify(o));

/** The `uniqueKey` of a command's task: GenieACS deletes the device's older task with the same one. */
export const taskUniqueKey = (key: string): string => `ipv6-lifecycle:${key}`;

/**
 * The NBI's HTTP client (the CPE port's and the field reader's): basic-auth credentials from the
 * environment, refused when one is named but not set; no redirect, which could carry the
 * Authorization header to another host; `redact` takes the credentials out of a text.
 */
export function createNbiHttp(config: GenieacsConfig, env: Record<string, string | undefined>): { http: AxiosInstance; redact: (text: string) => string } {
  let auth: { username: string; password: string } | undefined;
  if (config.username_env && config.password_env) {
    const username = env[config.username_env];
    const password = env[config.password_env];
    for (const [name, value] of [[config.username_env, username], [config.password_env, password]] as const) {
      if (!value) {
        throw new ServiceError('validation_error', `genieacs: environment variable ${name} is not set`, { field: 'genieacs' });
      }
    }
    auth = { username: username as string, password: password as string };
  }
  const redact = redactor(auth ? [auth.password, `${auth.username}:${auth.password}`] : []);
  const http = axios.create({
    baseURL: config.url,
    timeout: config.timeout_ms,
    maxRedirects: 0,
    maxContentLength: PEER_ANSWER_MAX_BYTES,
    validateStatus: () => true,
    headers: { Accept: 'application/json' },
    // A connection per request: a server or proxy may close an idle one at any time (RFC 9112
    // section 9.5), and a call sent on it fails ECONNRESET. A command makes only a few calls.
    httpAgent: new HttpAgent({ keepAlive: false }),
    httpsAgent: new HttpsAgent({ keepAlive: false }),
    ...(auth ? { auth } : {}),
  });
  return { http, redact };
}

/** Creates the GenieACS implementation of the CPE port; basic-auth credentials come from the environment. */
export function createGenieacsCpe(config: GenieacsConfig, log: Logger, deps: GenieacsDeps = {}): CpePort {
  const { http, redact } = createNbiHttp(config, deps.env ?? process.env);
  const base = log.child({ service: 'genieacs' });

  /** One request; network faults, timeouts and 5xx become retryable `upstream_unavailable`. */
  async function call<T>(method: Method, url: string, what: string, signal?: AbortSignal, data?: unknown): Promise<AxiosResponse<T>> {
    if (signal?.aborted) throw aborted(what);
    let res: AxiosResponse<T>;
    try {
      res = await http.request<T>({ method, url, data, signal });
    } catch (err) {
      if (signal?.aborted) throw aborted(what);
      // Only the code: an AxiosError carries the request config, credentials included.
      const code = transportFault(err);
      const why = code === 'ECONNABORTED' || code === 'ETIMEDOUT' ? `no answer within ${config.timeout_ms} ms` : code;
      throw new ServiceError('upstream_unavailable', `${what}: ${why}`, { retryable: true });
    }
    if (res.status >= 500) {
      throw new ServiceError('upstream_unavailable', `${what}: ${res.status}`, { retryable: true, detail: excerpt(res) });
    }
    return res;
  }

  const isTask = (data: unknown): data is TaskRecord & { _id: string } =>
    typeof data === 'object' && data !== null && !Array.isArray(data) && typeof (data as TaskRecord)._id === 'string';

  function unexpected(what: string, res: AxiosResponse): ServiceError {
    if (res.status === 401 || res.status === 403) {
      const whose = config.username_env ? `the credentials from ${config.username_env}/${config.password_env}` : 'a request without credentials';
      return new ServiceError('upstream_rejected', `${what}: ${res.status}, the NBI refused ${whose}`);
    }
    if (res.status >= 300 && res.status < 400) return new ServiceError('upstream_rejected', `${what}: redirected (${res.status}); check genieacs.url`);
    // Every path asked here exists on the NBI and answers a list: a 404, or a 200 with anything
    // else (a proxy's login page), is not the NBI (a wrong url).
    if (res.status === 200) return new ServiceError('upstream_rejected', `${what}: 200 without the list the NBI answers with; check genieacs.url`, { detail: excerpt(res) });
    if (res.status === 404) return new ServiceError('upstream_rejected', `${what}: 404; check genieacs.url`, { detail: excerpt(res) });
    return new ServiceError('upstream_rejected', `${what}: ${res.status}`, { detail: excerpt(res) });
  }

  /** The NBI's body, for `detail` (the log), never the message an API answer carries. */
  function excerpt(res: AxiosResponse): string {
    return peerExcerpt(res.data, 200, redact);
  }

  const deviceMissing = (deviceId: string) => new ServiceError('not_found', `GenieACS has no device ${deviceId}`, { field: 'cpe_id' });
  const isDeviceMissing = (err: unknown) => err instanceof ServiceError && err.code === 'not_found' && err.field === 'cpe_id';

  async function submit(op: Op, cmd: CpeCommand, signal: AbortSignal | undefined, extra: Record<string, unknown>): Promise<CpeResult> {
    const deviceId = checkDeviceId(cmd.cpeId);
    if (typeof cmd.key !== 'string' || cmd.key.length === 0) throw new ServiceError('validation_error', 'key must be a non-empty string', { field: 'key' });
    const l = base.child({ cpe_id: deviceId, key: cmd.key, op, ...extra });
    try {
      return await send(op, cmd, deviceId, l, signal);
    } catch (err) {
      // A device deleted from the ACS (a returned CPE) has no IPv6 to remove: a revocation must be
      // able to finish. An activation's not_found stays: the CPE may not have informed yet.
      if (op !== 'removeIpv6' || !isDeviceMissing(err)) throw err;
      l.warn('GenieACS has no such device: nothing to remove IPv6 from');
      return { status: 'done', reason: 'unknown_to_acs' };
    }
  }

  async function send(op: Op, cmd: CpeCommand, deviceId: string, l: Logger, signal?: AbortSignal): Promise<CpeResult> {
    const task: SetParameterValuesTask = {
      name: 'setParameterValues',
      parameterValues: pdParameters(config, op === 'configurePd' ? 'enable' : 'disable'),
      uniqueKey: taskUniqueKey(cmd.key),
      expiry: config.task_expiry_s,
    };
    // Without connection requests every answer is 202, so every call looks first. With them, only a
    // pending retry does: a CPE behind NAT ran the task at an inform, and a new POST would queue it again.
    const { held, others, problem } = await heldTasks(deviceId, task, l, signal);
    if (!config.connection_request || cmd.pending) {
      const settled = await lookFirst(op, deviceId, task, held, others, l, signal);
      if (settled) return settled;
    }
    const what = `GenieACS POST task ${op} for ${deviceId}`;
    // `connection_request` is a presence flag (the NBI tests `!= null`), written as documented.
    const query = config.connection_request ? `?timeout=${config.task_timeout_ms}&connection_request` : '';
    const res = await call<TaskRecord | string>('POST', `/devices/${encodeURIComponent(deviceId)}/tasks${query}`, what, signal, task);
    if (res.status === 200) {
      // The NBI's 200 carries the task it ran; a login page of a proxy in front, or another server at a
      // wrong URL, answers 200 too, and the CPE got nothing.
      if (!isTask(res.data)) throw new ServiceError('upstream_rejected', `${what}: 200 without the task the NBI answers with; check genieacs.url`, { detail: excerpt(res) });
      l.info('CPE applied the task');
      // A superseded task of ours the NBI would not delete ran before ours, or faulted and is
      // retried at a later session, after ours: pending, so the retry deletes it and looks again.
      if (others > 0) return { status: 'queued', taskId: res.data._id, ...(problem ? { problem } : {}) };
      return { status: 'done' };
    }
    if (res.status === 202) {
      const taskId = isTask(res.data) ? res.data._id : await taskIdByKey(deviceId, task, res, l, signal);
      if (res.statusText === FAULTED) throw await rejected(op, deviceId, taskId, l, signal);
      // The ACS holds no task of ours to run: queued would wait for nothing. A retry looks at the
      // device's values first (pending) and submits again if the task never ran.
      if (taskId === null) {
        throw new ServiceError('upstream_unavailable', `${what}: 202 without the task's _id, and the ACS holds no task with its uniqueKey`, { retryable: true, detail: excerpt(res) });
      }
      // "Task queued but not processed", a connection-request error, or (without connection_request) plain 202.
      l.info({ task_id: taskId, reason: redact(res.statusText ?? '') }, 'CPE task queued at the ACS');
      return { status: 'queued', taskId };
    }
    // GenieACS v1.2.16 answers "No such device"; its docs give only the 404, so another body is
    // settled by asking for the device: absent, it is missing; present, the 404 is a wrong url's.
    if (res.status === 404 && typeof res.data === 'string' && res.data.trim() === 'No such device') throw deviceMissing(deviceId);
    if (res.status === 404 && !(await deviceKnown(deviceId, signal))) throw deviceMissing(deviceId);
    throw unexpected(what, res);
  }

  /**
   * The `_id` of the task just POSTed, found by its uniqueKey, for an answer that lacks it (the
   * NBI documents the task JSON as the body): without it a fault cannot be read, nor the faulted
   * task deleted, which GenieACS retries at every later session. Null when the ACS holds none.
   */
  async function taskIdByKey(deviceId: string, task: SetParameterValuesTask, res: AxiosResponse, l: Logger, signal?: AbortSignal): Promise<string | null> {
    const what = `GenieACS GET task ${task.uniqueKey} of ${deviceId}`;
    const found = await call<TaskRecord[]>('GET', `/tasks/?query=${q({ device: deviceId, uniqueKey: task.uniqueKey })}`, what, signal);
    if (found.status !== 200 || !Array.isArray(found.data)) throw unexpected(what, found);
    const taskId = found.data.map((t) => t._id).find((id): id is string => typeof id === 'string') ?? null;
    l.warn({ status: res.status, reason: redact(res.statusText ?? ''), task_id: taskId }, 'the NBI answered the task POST without its _id; looked it up by uniqueKey');
    return taskId;
  }

  /** Whether `/devices/` lists the device; an answer that is not the NBI's list throws. */
  async function deviceKnown(deviceId: string, signal?: AbortSignal): Promise<boolean> {
    const what = `GenieACS GET device ${deviceId}`;
    const res = await call<unknown[]>('GET', `/devices/?query=${q({ _id: deviceId })}&projection=_id`, what, signal);
    if (res.status !== 200 || !Array.isArray(res.data)) throw unexpected(what, res);
    return res.data.length > 0;
  }

  /** Reads the task's fault, deletes the task so GenieACS stops retrying it, and returns the error. */
  async function rejected(op: Op, deviceId: string, taskId: string | null, l: Logger, signal?: AbortSignal): Promise<ServiceError> {
    let why = taskId ? 'the NBI kept no fault record' : 'the answer named no task, and the ACS holds none with its uniqueKey';
    if (taskId) {
      const query = encodeURIComponent(JSON.stringify({ _id: `${deviceId}:task_${taskId}` }));
      try {
        const res = await call<FaultRecord[]>('GET', `/faults/?query=${query}`, `GenieACS GET fault of task ${taskId}`, signal);
        const fault = res.status === 200 && Array.isArray(res.data) ? res.data[0] : undefined;
        if (fault) why = peerExcerpt(describeFault(fault), 300, redact);
      } catch (err) {
        why = `the fault record could not be read (${(err as Error).message})`;
      }
      // Not under `signal`: a faulted task left behind is retried at every session of the CPE.
      try {
        const res = await call('DELETE', `/tasks/${encodeURIComponent(taskId)}`, `GenieACS DELETE task ${taskId}`);
        if (res.status !== 200 && res.status !== 404) l.warn({ task_id: taskId, status: res.status }, 'could not delete the faulted task');
      } catch (err) {
        l.warn({ task_id: taskId, err: (err as Error).message }, 'could not delete the faulted task');
      }
    }
    l.warn({ task_id: taskId, fault: why }, 'CPE rejected the task');
    return new ServiceError('upstream_rejected', `CPE ${deviceId} rejected ${op} (task ${taskId ?? 'unknown'}): ${why}`);
  }

  /**
   * The device's tasks at the ACS: this command's, if still held, and how many of our other
   * commands' are left. Those are deleted first: held, they run before this one, but one that
   * faulted is retried at a later session, after this one ("Faulted tasks are retried on later
   * sessions"), and an activation's would turn PD on again after the revocation. This command is
   * the newest (the pending worker drops a step a later lifecycle superseded), so it wins.
   */
  async function heldTasks(deviceId: string, task: SetParameterValuesTask, l: Logger, signal?: AbortSignal): Promise<{ held: string | null; others: number; problem: string | null }> {
    const what = `GenieACS GET tasks of ${deviceId}`;
    const tasks = await call<TaskRecord[]>('GET', `/tasks/?query=${q({ device: deviceId })}`, what, signal);
    if (tasks.status !== 200 || !Array.isArray(tasks.data)) throw unexpected(what, tasks);
    const ours = tasks.data.filter((t): t is { _id: string; uniqueKey: string } => typeof t._id === 'string' && typeof t.uniqueKey === 'string' && t.uniqueKey.startsWith(taskUniqueKey('')));
    let others = 0;
    let problem: string | null = null;
    for (const t of ours.filter((t) => t.uniqueKey !== task.uniqueKey)) {
      try {
        const res = await call('DELETE', `/tasks/${encodeURIComponent(t._id)}`, `GenieACS DELETE task ${t._id}`, signal);
        if (res.status === 200 || res.status === 404) continue;
        l.warn({ task_id: t._id, status: res.status }, 'could not delete a superseded task');
        problem ??= `GenieACS DELETE task ${t._id} (a superseded task of ours) answered ${res.status}`;
      } catch (err) {
        if (signal?.aborted) throw err;
        // 503 "Device is in session": it may be running now; left, it is at worst the old behaviour.
        l.warn({ task_id: t._id, err: (err as Error).message }, 'could not delete a superseded task');
        problem ??= `GenieACS could not delete task ${t._id} (a superseded task of ours): ${err instanceof ServiceError ? err.message : 'network error'}`;
      }
      others++;
    }
    return { held: ours.find((t) => t.uniqueKey === task.uniqueKey)?._id ?? null, others, problem };
  }

  /**
   * What the ACS says of an earlier call: our task still held → queued (not replaced, which would
   * move it behind later tasks); gone and GenieACS's copy of the parameters shows the values → done
   * (it ran at an inform); otherwise null: submit.
   */
  async function lookFirst(op: Op, deviceId: string, task: SetParameterValuesTask, held: string | null, others: number, l: Logger, signal?: AbortSignal): Promise<CpeResult | null> {
    if (held) {
      const faults = await call<unknown[]>('GET', `/faults/?query=${q({ _id: `${deviceId}:task_${held}` })}`, `GenieACS GET fault of task ${held}`, signal);
      if (faults.status === 200 && Array.isArray(faults.data) && faults.data.length > 0) throw await rejected(op, deviceId, held, l, signal);
      if (config.connection_request) await nudge(deviceId, held, l, signal);
      return { status: 'queued', taskId: held };
    }
    const projection = task.parameterValues.map((p) => p[0]).join(',');
    const what = `GenieACS GET device ${deviceId}`;
    const devices = await call<unknown[]>('GET', `/devices/?query=${q({ _id: deviceId })}&projection=${encodeURIComponent(projection)}`, what, signal);
    if (devices.status !== 200 || !Array.isArray(devices.data)) throw unexpected(what, devices);
    const doc = devices.data[0];
    if (doc === undefined) throw deviceMissing(deviceId);
    // Another of our tasks still queued (one that could not be deleted) runs first at the next
    // inform and would undo values GenieACS's copy shows now: ours must be queued behind it.
    if (others === 0 && task.parameterValues.every(([path, value]) => String(valueAt(doc, path)) === String(value))) {
      l.info('CPE already has the values (the task ran at an inform)');
      return { status: 'done' };
    }
    return null;
  }

  /**
   * A connection request alone (no task): a CPE reachable again opens a session and runs the held
   * task where it stands in the queue, instead of at its periodic inform. The next retry sees the
   * outcome; a request that fails leaves the task held, as it was.
   */
  async function nudge(deviceId: string, taskId: string, l: Logger, signal?: AbortSignal): Promise<void> {
    const what = `GenieACS connection request to ${deviceId}`;
    try {
      const res = await http.request({ method: 'POST', url: `/devices/${encodeURIComponent(deviceId)}/tasks?timeout=${config.task_timeout_ms}&connection_request`, signal });
      if (res.status === 200) l.info({ task_id: taskId }, 'connection request taken: the CPE runs its held task');
      else l.info({ task_id: taskId, status: res.status, reason: redact(res.statusText ?? '') }, 'connection request failed: the task stays held for the next inform');
    } catch (err) {
      if (signal?.aborted) throw aborted(what);
      l.info({ task_id: taskId, err: (err as { code?: string }).code ?? 'network error' }, 'connection request failed: the task stays held for the next inform');
    }
  }

  return {
    configurePd: (cmd, signal) => submit('configurePd', cmd, signal, { prefix: cmd.prefix }),
    removeIpv6: (cmd, signal) => submit('removeIpv6', cmd, signal, {}),
  };
}

function aborted(what: string): ServiceError {
  return new ServiceError('timeout', `${what}: aborted`, { retryable: true });
}
