import pLimit, { type LimitFunction } from 'p-limit';

/** The peers the service talks to, each with its own bound on requests in flight. */
export type Peer = 'netbox' | 'genieacs' | 'radius_sql' | 'nas';

/** The methods of each port that reach its peer: the ones a limit wraps. */
export const PEER_METHODS = {
  ipam: ['allocate', 'release', 'allocatedUnder', 'free', 'utilization', 'markedPrefixes', 'init', 'sweep'],
  cpe: ['configurePd', 'removeIpv6'],
  replies: ['writeReply', 'removeReply'],
  sessions: ['notifySessions'],
} as const;

/**
 * The port with at most `concurrency` calls of `methods` in flight at once; the others wait their
 * turn in order. After a restart every busy lifecycle resumes its step and the pending worker asks
 * every offline CPE again: without a bound, that is thousands of simultaneous requests to one
 * ACS or NetBox. Whatever else the port has (its close(), NetBox's hooks tested with `in`) is left
 * as it is. One limit per port: pass the same one to ports of one peer.
 */
export function limitPort<T extends object>(port: T, methods: readonly string[], limit: LimitFunction | number): T & { readonly limit: LimitFunction } {
  const lim = typeof limit === 'number' ? pLimit(limit) : limit;
  const wrapped = new Set(methods);
  const cache = new Map<PropertyKey, unknown>();
  return new Proxy(port, {
    get(target, prop) {
      if (prop === 'limit') return lim;
      const value = Reflect.get(target, prop, target);
      if (typeof value !== 'function') return value;
      let fn = cache.get(prop);
      if (!fn) {
        fn = wrapped.has(String(prop))
          ? (...args: unknown[]) => lim(() => (value as (...a: unknown[]) => unknown).apply(target, args))
          : (value as (...a: unknown[]) => unknown).bind(target);
        cache.set(prop, fn);
      }
      return fn;
    },
  }) as T & { readonly limit: LimitFunction };
}
