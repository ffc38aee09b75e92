// What the park review's test files share: peers whose IPAM, CPE and RADIUS calls are held until
// released one by one (and remember the host's state when made), a harness with runtime.park_ms
// set, and the helpers that drive held calls parked or unparked and read a lifecycle's trail.
import type { CpePort } from '../../services/genieacs/port.ts';
import type { FakeIpam } from '../../services/ipam/fake.ts';
import type { IpamPort } from '../../services/ipam/port.ts';
import type { DynamicAuthorizationPort, RadiusReplyPort } from '../../services/radius/port.ts';
import { BASE, startHarness, type Harness } from '../http/support.ts';

export const PARK_MS = 20;
export const FAR = 60_000;

export type Op = 'allocate' | 'release' | 'free' | 'configurePd' | 'removeIpv6' | 'writeReply' | 'removeReply' | 'notifySessions';
export interface Held {
  op: Op;
  key: string;
  signal: AbortSignal | undefined;
  /** Host state when the call was made: how many actors live, how many parked. */
  at: { live: number; parked: number };
  /** undefined: the real (fake) peer answers; an Error: the call fails with it; else that result. */
  release(r?: unknown): void;
  released: boolean;
}

/** IPAM and CPE calls of the ops in `hold` wait until released one by one; the rest go straight through. */
export function peers(hold: Op[]) {
  const calls: Held[] = [];
  let h: Harness | null = null;
  const held = <C extends { key?: string; lifecycleId?: string; username?: string }, R>(op: Op, fn: (cmd: C, signal?: AbortSignal) => Promise<R>) =>
    (cmd: C, signal?: AbortSignal): Promise<R> => {
      if (!hold.includes(op)) return fn(cmd, signal);
      return new Promise<R>((resolve, reject) => {
        const call: Held = {
          op,
          key: cmd.key ?? cmd.lifecycleId ?? `${cmd.username}`,
          signal,
          at: { live: h?.composed.host.size ?? -1, parked: h?.composed.host.parked ?? -1 },
          released: false,
          release: (r) => {
            call.released = true;
            if (r instanceof Error) reject(r);
            else if (r !== undefined) resolve(r as R);
            else fn(cmd, signal).then(resolve, reject);
          },
        };
        calls.push(call);
      });
    };
  return {
    calls,
    bind: (harness: Harness) => void (h = harness),
    wrapIpam: (fake: FakeIpam): IpamPort => ({
      ...fake,
      allocate: held('allocate', fake.allocate),
      release: held('release', fake.release),
      free: held('free', fake.free),
    }),
    wrapCpe: (inner: CpePort): CpePort => ({ configurePd: held('configurePd', inner.configurePd), removeIpv6: held('removeIpv6', inner.removeIpv6) }),
    replies: (inner: RadiusReplyPort): RadiusReplyPort => ({
      writeReply: held('writeReply', inner.writeReply.bind(inner)),
      removeReply: held('removeReply', inner.removeReply.bind(inner)),
    }),
    sessions: (inner: DynamicAuthorizationPort): DynamicAuthorizationPort => ({ notifySessions: held('notifySessions', inner.notifySessions.bind(inner)) }),
    pending: () => calls.filter((c) => !c.released),
  };
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
export async function until(what: string, fn: () => boolean, ms = 5000): Promise<void> {
  const end = Date.now() + ms;
  while (!fn()) {
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}`);
    await sleep(5);
  }
}
/** A promise that rejects after `ms` instead of hanging the suite. */
export function within<T>(what: string, p: Promise<T>, ms = 5000): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  return Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`${what}: no answer within ${ms} ms`)), ms)))]).finally(() =>
    clearTimeout(timer),
  );
}

export async function start(
  p: ReturnType<typeof peers>,
  runtime: Record<string, unknown> = {},
  extra: Record<string, unknown> = {},
  radius?: { replies: RadiusReplyPort; sessions: DynamicAuthorizationPort },
): Promise<Harness> {
  const h = await startHarness({
    wrapIpam: p.wrapIpam,
    wrapCpe: p.wrapCpe,
    ...(radius ? { replies: p.replies(radius.replies), sessions: p.sessions(radius.sessions) } : {}),
    config: { runtime: { park_ms: PARK_MS, idle_ms: FAR, ...runtime }, ...extra } as never,
  });
  p.bind(h);
  return h;
}

export const op = (h: Harness, verb: string, json: unknown, wait: number, headers: Record<string, string> = {}) =>
  h.request('POST', `${BASE}/${verb}?wait=${wait}`, { json, headers });

export async function trail(h: Harness, s: string): Promise<string[]> {
  const events = (await h.get(`${BASE}/lifecycle/${s}/events`)).body.events as { type: string; from: string | null; to: string; detail: any }[];
  return events.map((e) => `${e.type} ${e.from}→${e.to}${e.detail?.step ? ` ${e.detail.step}` : ''}${e.detail?.error ? ` ${e.detail.error.code}` : ''}`);
}

/**
 * Releases the held calls in order with `answer(call, n)`, each once the host has parked its
 * lifecycle (parked runs), or after a moment (unparked runs); returns whether each was parked then.
 */
export async function drive(h: Harness, p: ReturnType<typeof peers>, count: number, parked: boolean, answer: (c: Held, n: number) => unknown = () => undefined) {
  const seen: { op: Op; parked: boolean }[] = [];
  for (let n = 0; n < count; n++) {
    await until(`held call ${n + 1}`, () => p.pending().length > 0);
    const c = p.pending()[0]!;
    if (parked) await until(`call ${n + 1} (${c.op}) parked`, () => h.composed.host.parked === 1 && h.composed.host.size === 0).catch(() => undefined);
    else await sleep(PARK_MS * 3);
    seen.push({ op: c.op, parked: h.composed.host.parked === 1 });
    c.release(answer(c, n));
  }
  return seen;
}
