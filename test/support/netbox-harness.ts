import pino from 'pino';
import { withRetry, type RetryPolicy } from '../../runtime/retry.ts';
import { ServiceError } from '../../services/errors.ts';
import type { AllocateCommand } from '../../services/ipam/port.ts';
import { netboxConfigSchema, type NetboxConfigInput } from '../../services/netbox/config.ts';
import { MARK_FIELDS } from '../../services/netbox/mark.ts';
import { createNetboxIpam, type NetboxDeps, type NetboxIpam, type NetboxPool } from '../../services/netbox/netbox.ts';
import { startNetboxServer, V1_TOKEN, type NetboxServer, type NetboxServerOptions } from './netbox-server.ts';

export interface HarnessOptions {
  server?: NetboxServerOptions;
  /** Overrides of the client configuration; `url` is the local server's. */
  config?: Partial<NetboxConfigInput>;
  token?: string;
  /** Pools; by default one, `pd`, delegating /56 from the parent `2001:db8::/40`. */
  pools?: (server: NetboxServer) => NetboxPool[];
  deps?: NetboxDeps;
}

/** A local NetBox, a client pointed at it, and the client's log lines. */
export interface Harness {
  server: NetboxServer;
  ipam: NetboxIpam;
  /** Makes another client on the same server, as a restarted process would. */
  client(overrides?: Partial<NetboxConfigInput>, deps?: NetboxDeps): NetboxIpam;
  logs: string[];
  close(): Promise<void>;
}

/** Starts the local NetBox (custom fields defined, unless the options say otherwise) and a client. */
export async function startHarness(opts: HarnessOptions = {}): Promise<Harness> {
  const server = await startNetboxServer({ customFields: Object.values(MARK_FIELDS), ...opts.server });
  const pools =
    opts.pools?.(server) ??
    [{ name: 'pd', prefixLength: 56, netbox: { parent_id: server.addPrefix({ prefix: '2001:db8::/40', status: 'container' }).id } }];
  const logs: string[] = [];
  const log = pino({ level: 'debug' }, { write: (line: string) => void logs.push(line) });
  const client = (overrides: Partial<NetboxConfigInput> = {}, deps: NetboxDeps = opts.deps ?? {}) => {
    const config = netboxConfigSchema.parse({ url: server.url, ...opts.config, ...overrides });
    return createNetboxIpam(config, pools, log, { env: { NETBOX_TOKEN: opts.token ?? V1_TOKEN }, ...deps });
  };
  return { server, ipam: client(), client, logs, close: () => server.close() };
}

/** An allocation command for lifecycle `lc-<id>` with key `<id>:allocate:1`. */
export function cmd(id: string, over: Partial<AllocateCommand> = {}): AllocateCommand {
  return { key: `${id}:allocate:1`, lifecycleId: `lc-${id}`, subscriberId: `sub-${id}`, pool: 'pd', prefixLength: 56, ...over };
}

/**
 * Runs `call` as the lifecycle's step runner runs a step (the client itself makes one attempt per
 * request): `attempts` in total, a tiny backoff, Retry-After honoured up to `retryAfterMaxMs`.
 */
export function asStep<T>(call: () => Promise<T>, policy: Partial<RetryPolicy> = {}, signal?: AbortSignal): Promise<T> {
  return withRetry(call, { attempts: 4, baseMs: 1, maxMs: 5, retryAfterMaxMs: 30_000, ...policy }, signal ? { signal } : {});
}

/** Awaits a rejection and returns it as a ServiceError (failing the test otherwise). */
export async function failure(promise: Promise<unknown>): Promise<ServiceError> {
  try {
    await promise;
  } catch (err) {
    if (err instanceof ServiceError) return err;
    throw new Error(`expected a ServiceError, got ${String(err)}`);
  }
  throw new Error('expected a rejection, but the call succeeded');
}
