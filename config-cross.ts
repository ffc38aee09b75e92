// The configuration's cross-field checks: what no single key's schema can tell (pools against each
// other, against the netbox section and against radius.reply).
import { overlaps, parsePrefix, type Ipv6Prefix } from './services/ipv6.ts';

export type AddIssue = (issue: { code: 'custom'; path: PropertyKey[]; message: string }) => void;
const isObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

// Runs on a value that may have failed its schema: every read checks the shape it relies on.
export function crossFieldIssues(value: unknown, addIssue: AddIssue): void {
  if (!isObject(value)) return;
  const add = (path: PropertyKey[], message: string) => addIssue({ code: 'custom', path, message });
  const api = value.api;
  if (isObject(api) && typeof api.default_wait_ms === 'number' && typeof api.max_wait_ms === 'number' && api.default_wait_ms > api.max_wait_ms) {
    add(['api', 'default_wait_ms'], `must not exceed api.max_wait_ms (${api.max_wait_ms})`);
  }
  const pools = Array.isArray(value.pools) ? value.pools.map((p) => (isObject(p) ? p : {})) : [];
  const names = pools.map((p) => p.name).filter((n): n is string => typeof n === 'string');
  if (new Set(names).size !== names.length) add(['pools'], 'pool names must be unique');
  if (typeof value.default_pool === 'string' && names.length && !names.includes(value.default_pool)) {
    add(['default_pool'], `must name a pool (${names.join(', ')})`);
  }
  const parsed: (Ipv6Prefix | null)[] = pools.map((p, i) => {
    if (typeof p.prefix !== 'string' || !/^[0-9a-fA-F:]+\/\d{1,3}$/.test(p.prefix)) return null;
    try {
      return parsePrefix(p.prefix, `pools.${i}.prefix`);
    } catch (err) {
      add(['pools', i, 'prefix'], (err as Error).message);
      return null;
    }
  });
  // Two pools over the same space would hand out the same prefix twice.
  parsed.forEach((a, i) =>
    parsed.slice(i + 1).forEach((b, k) => {
      if (a && b && overlaps(a, b)) add(['pools', i + 1 + k, 'prefix'], `overlaps pool ${String(pools[i]!.name)} (${String(pools[i]!.prefix)})`);
    }),
  );
  // The WAN /64 that first64 writes is the delegation's first /64: a /64 leaves no room for it.
  const reply = isObject(value.radius) && isObject(value.radius.reply) ? value.radius.reply : {};
  const longest = reply.framed_prefix === 'first64' ? 63 : 64;
  pools.forEach((p, i) => {
    if (typeof p.prefix_length === 'number' && p.prefix_length > longest) add(['pools', i, 'prefix_length'], 'must be shorter than 64 with radius.reply.framed_prefix first64');
    const parent = typeof p.prefix === 'string' ? Number(p.prefix.split('/')[1]) : NaN;
    if (typeof p.prefix_length === 'number' && p.prefix_length <= parent) add(['pools', i, 'prefix_length'], `must be longer than the pool's /${parent}`);
    if (p.netbox !== undefined && value.netbox === undefined) add(['pools', i, 'netbox'], 'needs a top-level netbox section');
  });
}
