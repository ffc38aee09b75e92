import axios, { type AxiosInstance, type AxiosResponse, type Method } from 'axios';
import { ServiceError } from '../errors.ts';
import type { NetboxConfig } from './config.ts';

/** A failed attempt the retry loop may repeat; never leaves this folder. */
export class TransientError extends ServiceError {
  readonly retryAfterMs: number | null;
  constructor(message: string, retryAfterMs: number | null = null) {
    super('upstream_unavailable', message, { retryable: true });
    this.retryAfterMs = retryAfterMs;
  }
}

/** One NetBox request: `expect` lists statuses that are answers rather than errors (e.g. 404 on a release). */
export interface RequestSpec {
  method: Method;
  path: string;
  params?: Record<string, string | number>;
  data?: unknown;
  expect?: number[];
}

/** Options the tests inject: time and randomness of the backoff. */
export interface TransportDeps {
  sleep?: (ms: number, signal?: AbortSignal) => Promise<void>;
  random?: () => number;
}

/** The HTTP side of the NetBox client: auth, one attempt, and the retry loop around a step. */
export interface NetboxTransport {
  /** One attempt; throws `TransientError` for faults worth retrying, `ServiceError` otherwise. */
  once<T>(spec: RequestSpec, signal?: AbortSignal): Promise<{ status: number; data: T }>;
  /** Runs `attempt` until it succeeds, a non-transient error occurs, or the budget is spent. */
  retrying<T>(what: string, attempt: () => Promise<T>, signal?: AbortSignal): Promise<T>;
  /** Removes the token from any text that could reach a log line or an error. */
  redact(text: string): string;
}

/** v2 tokens (NetBox ≥ 4.5) are `nbt_<key>.<secret>` and use Bearer; v1 tokens are 40 characters and use Token. */
export function authorizationHeader(token: string): string {
  if (/^nbt_\S+$/.test(token)) return `Bearer ${token}`;
  if (/^\S{40}$/.test(token)) return `Token ${token}`;
  throw new ServiceError('validation_error', 'the NetBox token is neither a v2 token (nbt_…) nor a 40-character v1 token', {
    field: 'netbox.token_env',
  });
}

/** Builds the transport; the token lives only in this closure and the axios instance headers. */
export function createNetboxTransport(config: NetboxConfig, token: string, deps: TransportDeps = {}): NetboxTransport {
  const sleep = deps.sleep ?? abortableSleep;
  const random = deps.random ?? Math.random;
  const http: AxiosInstance = axios.create({
    baseURL: config.url,
    timeout: config.timeout_ms,
    // A redirect could carry the token to another host; NetBox answers on the URL we were given.
    maxRedirects: 0,
    validateStatus: () => true,
    headers: { Authorization: authorizationHeader(token), Accept: 'application/json' },
  });
  const redact = (text: string) => text.split(token).join('[redacted]');

  async function once<T>(spec: RequestSpec, signal?: AbortSignal): Promise<{ status: number; data: T }> {
    const what = `NetBox ${spec.method.toUpperCase()} ${spec.path}`;
    throwIfAborted(signal, what);
    let res: AxiosResponse;
    try {
      res = await http.request({ method: spec.method, url: spec.path, params: spec.params, data: spec.data, signal });
    } catch (err) {
      throwIfAborted(signal, what);
      const code = (err as { code?: string }).code ?? 'network error';
      // Only the code: an AxiosError carries the request config, headers (and token) included.
      throw new TransientError(redact(`${what}: ${code === 'ECONNABORTED' ? `timed out after ${config.timeout_ms} ms` : code}`));
    }
    const { status } = res;
    if (status >= 200 && status < 300 && status !== 204 && (res.data === null || typeof res.data !== 'object')) {
      // An HTML login page or a proxy's banner answers 200 too: not NetBox's API, so not retryable.
      throw new ServiceError('upstream_rejected', `${what}: ${status} without a JSON body; check netbox.url`);
    }
    if ((status >= 200 && status < 300) || spec.expect?.includes(status)) return { status, data: res.data as T };
    const detail = redact(excerpt(res.data));
    if (status === 429) throw new TransientError(`${what}: 429 ${detail}`, retryAfterMs(res.headers['retry-after']));
    if (status >= 500) throw new TransientError(`${what}: ${status} ${detail}`);
    if (status === 401 || status === 403) {
      throw new ServiceError('upstream_rejected', `${what}: ${status}, NetBox refused the token from ${config.token_env}: ${detail}`);
    }
    if (status >= 300 && status < 400) throw new ServiceError('upstream_rejected', `${what}: redirected (${status}); check netbox.url`);
    throw new ServiceError('upstream_rejected', `${what}: ${status} ${detail}`);
  }

  async function retrying<T>(what: string, attempt: () => Promise<T>, signal?: AbortSignal): Promise<T> {
    const budget = config.retries + 1;
    for (let n = 1; ; n++) {
      try {
        return await attempt();
      } catch (err) {
        if (!(err instanceof TransientError)) {
          if (err instanceof ServiceError) err.attempts = n;
          throw err;
        }
        if (n >= budget || (err.retryAfterMs ?? 0) > config.retry_after_max_ms) {
          const out = new ServiceError('upstream_unavailable', `${what} gave up after ${n} attempt(s): ${err.message}`, {
            retryable: true,
          });
          out.attempts = n;
          throw out;
        }
        // Equal jitter: never less than half the exponential step, so a burst of retries still spreads.
        const step = Math.min(config.backoff_max_ms, config.backoff_ms * 2 ** (n - 1));
        const delay = Math.max(err.retryAfterMs ?? 0, step / 2 + random() * (step / 2));
        await sleep(delay, signal);
        throwIfAborted(signal, what);
      }
    }
  }

  return { once, retrying, redact };
}

function throwIfAborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw new ServiceError('timeout', `${what}: aborted`, { retryable: true });
}

function abortableSleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve();
    const done = () => {
      clearTimeout(timer);
      signal?.removeEventListener('abort', done);
      resolve();
    };
    const timer = setTimeout(done, ms);
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** Retry-After is either delta-seconds or an HTTP-date (RFC 9110 §10.2.3). */
function retryAfterMs(header: unknown): number | null {
  if (typeof header !== 'string' || header.trim() === '') return null;
  if (/^\d+$/.test(header.trim())) return Number(header.trim()) * 1000;
  const at = Date.parse(header);
  return Number.isNaN(at) ? null : Math.max(0, at - Date.now());
}

function excerpt(data: unknown): string {
  const text = typeof data === 'string' ? data : JSON.stringify(data ?? '');
  return text.length > 300 ? `${text.slice(0, 300)}…` : text;
}
