import axios, { type AxiosInstance, type AxiosResponse, type Method } from 'axios';
import { ServiceError } from '../errors.ts';
import { PEER_ANSWER_MAX_BYTES, transportFault } from '../peer-url.ts';
import { peerExcerpt, redactor } from '../redact.ts';
import type { NetboxConfig } from './config.ts';

/** A fault worth another attempt (5xx, 429, network); the step runner decides whether there is one. */
const unavailable = (message: string, retryAfterMs: number | null = null, detail: string | null = null) =>
  new ServiceError('upstream_unavailable', message, { retryable: true, retryAfterMs, detail });

const unknownOutcomes = new WeakSet<object>();
const outcomeUnknown = (err: ServiceError): ServiceError => (unknownOutcomes.add(err), err);

/**
 * True for a failed request NetBox may still have carried out: no answer (a timeout, a dropped
 * connection) or a gateway's 502/504 in its place. A 503 or 429 from NetBox did nothing.
 */
export const mayHaveTakenEffect = (err: unknown): boolean => typeof err === 'object' && err !== null && unknownOutcomes.has(err);

/** One NetBox request: `expect` lists statuses that are answers rather than errors (e.g. 404 on a release). */
export interface RequestSpec {
  method: Method;
  path: string;
  params?: Record<string, string | number>;
  data?: unknown;
  expect?: number[];
  /** Instead of `netbox.timeout_ms`. */
  timeoutMs?: number;
}

/**
 * The HTTP side of the NetBox client: auth, error mapping, redaction. It never retries: the step
 * runner (runtime/retry.ts) repeats the whole step, so `retry.attempts` counts requests too.
 */
export interface NetboxTransport {
  /**
   * One request, one attempt. A fault worth repeating is `upstream_unavailable`, retryable, carrying
   * a 429's or 503's Retry-After as `retryAfterMs`; anything else is a non-retryable `ServiceError`.
   */
  once<T>(spec: RequestSpec, signal?: AbortSignal): Promise<{ status: number; data: T }>;
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
export function createNetboxTransport(config: NetboxConfig, token: string): NetboxTransport {
  const http: AxiosInstance = axios.create({
    baseURL: config.url,
    timeout: config.timeout_ms,
    // A redirect could carry the token to another host; NetBox answers on the URL we were given.
    maxRedirects: 0,
    maxContentLength: PEER_ANSWER_MAX_BYTES,
    validateStatus: () => true,
    headers: { Authorization: authorizationHeader(token), Accept: 'application/json' },
  });
  const redact = redactor([token]);

  async function once<T>(spec: RequestSpec, signal?: AbortSignal): Promise<{ status: number; data: T }> {
    const what = `NetBox ${spec.method.toUpperCase()} ${spec.path}`;
    throwIfAborted(signal, what);
    const timeout = spec.timeoutMs ?? config.timeout_ms;
    let res: AxiosResponse;
    try {
      res = await http.request({ method: spec.method, url: spec.path, params: spec.params, data: spec.data, signal, timeout });
    } catch (err) {
      throwIfAborted(signal, what);
      // Only the code: an AxiosError carries the request config, headers (and token) included.
      const code = transportFault(err);
      throw outcomeUnknown(unavailable(redact(`${what}: ${code === 'ECONNABORTED' ? `timed out after ${timeout} ms` : code}`)));
    }
    const { status } = res;
    if (status >= 200 && status < 300 && status !== 204 && (res.data === null || typeof res.data !== 'object')) {
      // An HTML login page or a proxy's banner answers 200 too: not NetBox's API, so not retryable.
      throw new ServiceError('upstream_rejected', `${what}: ${status} without a JSON body; check netbox.url`);
    }
    if ((status >= 200 && status < 300) || spec.expect?.includes(status)) return { status, data: res.data as T };
    // NetBox's body goes to the log (`detail`), never into the message an API answer carries.
    const detail = peerExcerpt(res.data, 300, redact);
    if (status === 429 || status >= 500) {
      // RFC 9110 §10.2.3: Retry-After comes with 429 and 503; the step runner waits at least that long.
      const wait = status === 429 || status === 503 ? retryAfterMs(res.headers['retry-after']) : null;
      const err = unavailable(`${what}: ${status}${wait === null ? '' : ` (Retry-After ${Math.ceil(wait / 1000)} s)`}`, wait, detail);
      throw status === 502 || status === 504 ? outcomeUnknown(err) : err;
    }
    if (status === 401 || status === 403) {
      throw new ServiceError('upstream_rejected', `${what}: ${status}, NetBox refused the token from ${config.token_env}`, { detail });
    }
    if (status >= 300 && status < 400) throw new ServiceError('upstream_rejected', `${what}: redirected (${status}); check netbox.url`);
    throw new ServiceError('upstream_rejected', `${what}: ${status}`, { detail });
  }

  return { once, redact };
}

function throwIfAborted(signal: AbortSignal | undefined, what: string): void {
  if (signal?.aborted) throw new ServiceError('timeout', `${what}: aborted`, { retryable: true });
}

/** Retry-After is either delta-seconds or an HTTP-date (RFC 9110 §10.2.3). */
function retryAfterMs(header: unknown): number | null {
  if (typeof header !== 'string' || header.trim() === '') return null;
  if (/^\d+$/.test(header.trim())) return Number(header.trim()) * 1000;
  const at = Date.parse(header);
  return Number.isNaN(at) ? null : Math.max(0, at - Date.now());
}
