// Kill points for the crash test. Every outside call and every store write of the child passes a
// probe that names the moment (`ipam.allocate:after-commit`, `update.allocate:after-commit`,
// `store.save:after>allocated`) and, when it is the moment the parent asked for, SIGKILLs the
// process on the spot. The probe also checks the runtime's promise: a step's outside call is made
// only once the snapshot that started the step is on disk.
import { writeFileSync } from 'node:fs';
import type { CpePort } from '../../services/genieacs/port.ts';
import type { AllocateCommand, Allocation, IpamPort } from '../../services/ipam/port.ts';
import type { DynamicAuthorizationPort, RadiusReplyPort } from '../../services/radius/port.ts';
import type { LifecycleRow, LifecycleStore } from '../../store/lifecycles.ts';
import type { Peers } from './crash-peers.ts';
import { decodeSnapshot } from '../../store/snapshot-codec.ts';

/** What the child wrote just before it killed itself, for the parent's targeted checks. */
export interface KillNote {
  label: string;
  occurrence: number;
  lifecycle_id: string | null;
  state: string | null;
  prefix: string | null;
  /** `port key` of the outside call the kill point sits around; null for store kill points. */
  call: string | null;
  /** At-once kill points: the lifecycles allocated so far in the transaction the kill interrupts (or has just committed). */
  batch?: string[];
}

/** Counts each label and dies at the `label#n` it was given (n defaults to 1). */
export function createKillSwitch(spec: string | undefined, noteFile: string) {
  const counts = new Map<string, number>();
  const [target, nth] = spec ? [spec.replace(/#\d+$/, ''), Number(/#(\d+)$/.exec(spec)?.[1] ?? 1)] : [null, 0];
  return {
    counts,
    hit(labels: Iterable<string>, note: Omit<KillNote, 'label' | 'occurrence'>): void {
      for (const label of new Set(labels)) {
        const n = (counts.get(label) ?? 0) + 1;
        counts.set(label, n);
        if (label !== target || n !== nth) continue;
        writeFileSync(noteFile, JSON.stringify({ label, occurrence: n, ...note }));
        process.kill(process.pid, 'SIGKILL');
        // The signal is delivered on the way out of the kill syscall; block rather than run on meanwhile.
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 10_000);
      }
    },
  };
}
export type KillSwitch = ReturnType<typeof createKillSwitch>;

/** The stored snapshot's state path, e.g. `active.updateAllocate`. */
export function storedPath(row: LifecycleRow): string {
  const value = decodeSnapshot(row).value as string | Record<string, string>;
  if (typeof value === 'string') return value;
  const [top, sub] = Object.entries(value)[0]!;
  return `${top}.${sub}`;
}

/** The operation a stored step belongs to: names the qualified kill points (`revoke.release`). */
function operationOf(path: string): string | null {
  if (path === 'pending') return 'allocate';
  if (path.startsWith('allocated.')) return 'activate';
  if (path.startsWith('active.update')) return 'update';
  if (path.startsWith('active.suspend')) return 'suspend';
  if (path.startsWith('suspended.reactivate')) return 'reactivate';
  if (path.startsWith('revoking.')) return 'revoke';
  return null;
}

/** Stored states from which each port may be called: the step that makes the call. */
const CALLING_STEPS: Record<string, readonly string[]> = {
  'ipam.allocate': ['pending', 'active.updateAllocate'],
  'ipam.release': ['revoking.release'],
  // A revocation frees at its end (and at once what a lost allocation took); an update frees what nobody carries.
  'ipam.free': ['revoking.free', 'revoking.release', 'active.updateRelease', 'active.updateRollback'],
  'radius.write': ['allocated.radius', 'active.updateRadius', 'suspended.reactivateRadius', 'active.updateRollback'],
  'radius.remove': ['active.suspendRadius', 'revoking.radius'],
  'sessions.notify': ['active.suspendSessions', 'active.updateSessions', 'suspended.reactivateSessions', 'revoking.sessions', 'active.updateRollback'],
  'cpe.configure': ['allocated.cpe', 'active.updateCpe'],
  'cpe.remove': ['revoking.cpe'],
};

/** How the probe finds the stored lifecycle behind a call (bound once the service is composed). */
export interface Locator {
  byId(lifecycleId: string): LifecycleRow | undefined;
  byUsername(username: string): LifecycleRow | undefined;
}

export function createProbe(kill: KillSwitch, peers: Peers, locate: Locator) {
  return async function around<T>(
    port: keyof typeof CALLING_STEPS,
    ref: { lifecycleId?: string; username?: string; key: string },
    call: () => Promise<T>,
    prefixOf: (result: T) => string | null = () => null,
  ): Promise<T> {
    const row = ref.lifecycleId ? locate.byId(ref.lifecycleId) : locate.byUsername(ref.username ?? '');
    const state = row ? storedPath(row) : null;
    const allowed = CALLING_STEPS[port]!;
    const problem = state && row?.busy === 1 && allowed.includes(state) ? null : `${port} called while the stored snapshot is ${state ?? 'missing'}`;
    const op = state ? operationOf(state) : null;
    const qualified = port.startsWith('ipam.') ? port.slice('ipam.'.length) : port;
    const labels = (phase: string) => [`${port}:${phase}`, ...(op ? [`${op}.${qualified}:${phase}`] : [])];
    const note = { lifecycle_id: row?.id ?? ref.lifecycleId ?? null, state, call: `${port} ${ref.key}` };
    kill.hit(labels('before'), { ...note, prefix: null });
    const result = await call();
    peers.record({ port, key: ref.key, lifecycle_id: note.lifecycle_id, state, problem });
    // An IPAM call has committed its transaction by the time it resolves.
    kill.hit(labels(port.startsWith('ipam.') ? 'after-commit' : 'after'), { ...note, prefix: prefixOf(result) });
    return result;
  };
}
export type Probe = ReturnType<typeof createProbe>;

/**
 * The at-once path (runtime/at-once.ts): ActorHost's group commit opens one transaction per batch
 * (`store.transaction`, depth 0) and one savepoint per allocation in it (depth 1), where the embedded
 * IPAM's synchronous `allocateNow` writes its row. The probe names the moments of that transaction:
 * `atonce.batch:before` (nothing of the batch written), `ipam.allocateNow:before` and
 * `ipam.allocateNow:after-write` (the IPAM row written, not committed; `after-write[n]` is the n-th
 * allocation of one transaction), `atonce.batch:after-commit` (on disk, nobody told yet).
 */
export function createAtOnceProbe(kill: KillSwitch, peers: Pick<Peers, 'record'>, stored: (lifecycleId: string) => boolean) {
  let depth = 0;
  let batch: string[] = [];
  const note = (lifecycleId: string | null, prefix: string | null, call: string | null) => ({ lifecycle_id: lifecycleId, state: null, prefix, call, batch: [...batch] });
  return {
    /** The largest number of allocations one transaction made: what shows the burst was batched. */
    largest: 0,
    transaction<T>(fn: () => T): T {
      if (depth === 0) {
        batch = [];
        kill.hit(['atonce.batch:before'], note(null, null, null));
      }
      depth++;
      let out: T;
      try {
        out = fn();
      } finally {
        depth--;
      }
      if (depth === 0) kill.hit(['atonce.batch:after-commit'], note(null, null, null));
      return out;
    },
    allocateNow(cmd: AllocateCommand, inner: () => Allocation | null): Allocation | null {
      // The runtime's promise on this path: inside the batch's transaction, before the lifecycle has any row.
      const problem = depth === 0 ? 'ipam.allocateNow called outside the batch transaction' : stored(cmd.lifecycleId) ? 'ipam.allocateNow called for a lifecycle already stored' : null;
      const call = `ipam.allocateNow ${cmd.key}`;
      kill.hit(['ipam.allocateNow:before'], note(cmd.lifecycleId, null, call));
      const result = inner();
      peers.record({ port: 'ipam.allocateNow', key: cmd.key, lifecycle_id: cmd.lifecycleId, state: null, problem });
      if (!result) return result;
      batch.push(cmd.lifecycleId);
      this.largest = Math.max(this.largest, batch.length);
      kill.hit(['ipam.allocateNow:after-write', `ipam.allocateNow:after-write[${batch.length}]`], note(cmd.lifecycleId, result.prefix, call));
      return result;
    },
  };
}
export type AtOnceProbe = ReturnType<typeof createAtOnceProbe>;

/**
 * The IPAM port through the probe; `inner` is resolved per call because it needs the composed db.
 * With `atOnce`, it also allocates synchronously as the embedded IPAM does (the host's at-once path);
 * without, it has no `allocateNow` and every allocation is the actor's step (as with NetBox).
 */
export function probedIpam(inner: () => IpamPort, around: Probe, atOnce?: AtOnceProbe): IpamPort {
  return {
    ...(atOnce ? { allocateNow: (cmd: AllocateCommand) => atOnce.allocateNow(cmd, () => inner().allocateNow!(cmd)) } : {}),
    allocate: (cmd, signal) => around('ipam.allocate', cmd, () => inner().allocate(cmd, signal), (a) => a.prefix),
    release: (cmd, signal) => around('ipam.release', { lifecycleId: cmd.lifecycleId, key: `${cmd.lifecycleId}:release:${cmd.prefix}` }, () => inner().release(cmd, signal), () => cmd.prefix),
    free: (cmd, signal) => around('ipam.free', { lifecycleId: cmd.lifecycleId, key: `${cmd.lifecycleId}:free:${cmd.prefix}` }, () => inner().free(cmd, signal), () => cmd.prefix),
    utilization: (signal) => inner().utilization(signal),
    markedPrefixes: (signal) => inner().markedPrefixes(signal),
    allocatedUnder: (cmd, signal) => inner().allocatedUnder(cmd, signal),
    adopt: (cmd, signal) => inner().adopt(cmd, signal),
  };
}

export function probedReplies(inner: RadiusReplyPort, around: Probe, peers: Pick<Peers, 'checkRadreply'>): RadiusReplyPort {
  return {
    writeReply: (cmd, signal) =>
      around('radius.write', { username: cmd.username, key: cmd.username }, () => {
        peers.checkRadreply(cmd.username, cmd.delegatedPrefix);
        return inner.writeReply(cmd, signal);
      }),
    removeReply: (cmd, signal) => around('radius.remove', { username: cmd.username, key: cmd.username }, () => inner.removeReply(cmd, signal)),
  };
}

export function probedSessions(inner: DynamicAuthorizationPort, around: Probe): DynamicAuthorizationPort {
  return {
    notifySessions: (cmd, signal) =>
      around('sessions.notify', { username: cmd.username, key: `${cmd.username}:${cmd.action}` }, () => inner.notifySessions(cmd, signal)),
  };
}

/** CPE keys are `lifecycleId:step:generation` (step-actors.ts), which names the lifecycle. */
export function probedCpe(inner: CpePort, around: Probe): CpePort {
  const lifecycleId = (key: string) => key.split(':')[0]!;
  return {
    configurePd: (cmd, signal) => around('cpe.configure', { lifecycleId: lifecycleId(cmd.key), key: cmd.key }, () => inner.configurePd(cmd, signal)),
    removeIpv6: (cmd, signal) => around('cpe.remove', { lifecycleId: lifecycleId(cmd.key), key: cmd.key }, () => inner.removeIpv6(cmd, signal)),
  };
}

/**
 * Puts kill points around the store's one write, a batch of snapshots in one transaction (the actor
 * host's group commit). compose() has no store override, and the host calls `saveBatch` (or `writeBatch`) on the very
 * object compose() returns, so replacing the method reaches it. `>X` labels fire for each snapshot
 * that enters X: a public state (`allocated`) or a path (`revoking.cpe`); `before` labels fire
 * before the whole batch is written, `after` labels once it is.
 */
export function probeStore(store: LifecycleStore, kill: KillSwitch, atOnce?: AtOnceProbe): void {
  if (atOnce) {
    const transaction = store.transaction;
    store.transaction = (fn) => atOnce.transaction(() => transaction(fn));
  }
  // saveBatch (a batch in its own transaction) and writeBatch (inside the caller's: an allocation made at once) alike.
  store.saveBatch = probedWrite(store, store.saveBatch, kill);
  store.writeBatch = probedWrite(store, store.writeBatch, kill);
}

function probedWrite(store: LifecycleStore, write: LifecycleStore['saveBatch'], kill: KillSwitch): LifecycleStore['saveBatch'] {
  return (items) => {
    const latest = new Map<string, LifecycleRow | undefined>();
    const marks = items.map(({ row }) => {
      const previous = latest.has(row.id) ? latest.get(row.id) : store.get(row.id);
      latest.set(row.id, row);
      const path = storedPath(row);
      const labels = (phase: string) => [
        ...(previous?.state !== row.state ? [`store.save:${phase}>${row.state}`] : []),
        ...(!previous || storedPath(previous) !== path ? [`store.save:${phase}>${path}`] : []),
      ];
      return { labels, note: { lifecycle_id: row.id, state: path, prefix: row.prefix, call: null } };
    });
    for (const m of marks) kill.hit(m.labels('before'), m.note);
    write(items);
    for (const m of marks) kill.hit(m.labels('after'), m.note);
  };
}
