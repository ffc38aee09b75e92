// What every bench needs: a throw-away directory, the service composed on it with ports that answer
// at once (so the figures are the runtime's and the store's, not a peer's), and memory readings.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { setFlagsFromString } from 'node:v8';
import { runInNewContext } from 'node:vm';
import pino from 'pino';
import { compose, type Composed } from '../compose.ts';
import { parseConfig } from '../config.ts';
import type { CpePort } from '../services/genieacs/port.ts';
import { formatPrefix, nthSubnet } from '../services/ipv6.ts';
import type { IpamPort } from '../services/ipam/port.ts';
import type { DynamicAuthorizationPort, RadiusReplyPort } from '../services/radius/port.ts';

export const BENCH_POOL = { name: 'bench', prefix: '2001:db8::/32', prefix_length: 56 } as const;

/** Ports that do nothing but answer: idempotent by key, constant time, no state but the keys. */
export function instantPorts() {
  const byKey = new Map<string, string>();
  const keyOf = new Map<string, string>();
  let next = 0;
  const ipam: IpamPort = {
    async allocate(cmd) {
      let prefix = byKey.get(cmd.key);
      if (!prefix) byKey.set(cmd.key, (prefix = formatPrefix(nthSubnet(BENCH_POOL.prefix, cmd.prefixLength, next++))));
      keyOf.set(prefix, cmd.key);
      return { prefix, prefixLength: cmd.prefixLength, netboxPrefixId: null };
    },
    async release(cmd) {
      byKey.delete(keyOf.get(cmd.prefix) ?? '');
      keyOf.delete(cmd.prefix);
    },
    async free(cmd) {
      byKey.delete(keyOf.get(cmd.prefix) ?? '');
      keyOf.delete(cmd.prefix);
    },
    utilization: async () => [],
    markedPrefixes: async () => [],
    allocatedUnder: async () => [],
    async adopt(cmd) {
      byKey.set(cmd.key, cmd.prefix);
      keyOf.set(cmd.prefix, cmd.key);
      return { prefix: cmd.prefix, prefixLength: Number(cmd.prefix.split('/')[1]), netboxPrefixId: cmd.netboxPrefixId ?? null };
    },
  };
  const replies: RadiusReplyPort = { writeReply: async () => undefined, removeReply: async () => undefined };
  const sessions: DynamicAuthorizationPort = { notifySessions: async () => [] };
  const cpe: CpePort = { configurePd: async () => ({ status: 'done' }), removeIpv6: async () => ({ status: 'done' }) };
  return { ipam, replies, sessions, cpe };
}

export interface Bench {
  c: Composed;
  dir: string;
  close(): Promise<void>;
}

/** The real composition (store, actor host, service) on a fresh file, with instant ports. */
export async function composeBench(
  opts: { idleMs?: number; maxLive?: number; parkMs?: number; database?: string; ports?: Partial<ReturnType<typeof instantPorts>>; embeddedIpam?: boolean } = {},
): Promise<Bench> {
  const dir = mkdtempSync(join(tmpdir(), 'ipv6-bench-'));
  const config = parseConfig({
    database: opts.database ?? join(dir, 'lifecycle.sqlite'),
    pools: [BENCH_POOL],
    runtime: { idle_ms: opts.idleMs ?? 60_000, ...(opts.maxLive ? { max_live_actors: opts.maxLive } : {}), ...(opts.parkMs ? { park_ms: opts.parkMs } : {}) },
    log: { level: 'silent' },
  });
  const overrides: Partial<ReturnType<typeof instantPorts>> = { ...instantPorts(), ...opts.ports };
  // The embedded IPAM of the default configuration instead of the instant fake one (its allocations need no actor).
  if (opts.embeddedIpam) delete overrides.ipam;
  const c = await compose(config, { log: pino({ level: 'silent' }), overrides });
  return {
    c,
    dir,
    async close() {
      await c.stop();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A fresh directory for benches that open their own files. */
export function scratchDir(): { dir: string; remove(): void } {
  const dir = mkdtempSync(join(tmpdir(), 'ipv6-bench-'));
  return { dir, remove: () => rmSync(dir, { recursive: true, force: true }) };
}

// `npm run bench` starts node without --expose-gc; turning the flag on late still gives a gc().
setFlagsFromString('--expose-gc');
const gc = runInNewContext('gc') as () => void;

/** RSS and used heap in MiB after a full collection. */
export function memory(): { rssMiB: number; heapMiB: number } {
  gc();
  gc();
  const m = process.memoryUsage();
  return { rssMiB: m.rss / 2 ** 20, heapMiB: m.heapUsed / 2 ** 20 };
}

export const perSecond = (count: number, ms: number) => Math.round((count * 1000) / ms);
export const fmt = (n: number) => n.toLocaleString('en-US');
