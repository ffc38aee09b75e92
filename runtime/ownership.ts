// Which instance works on which subscriber, when several share one PostgreSQL store. A subscriber's
// operations are serialized (runtime/subscriber-queue.ts); across instances, by a lease on the
// subscriber (store/postgresql/leases.ts): whoever holds it runs the subscriber's actors, renews it
// while they work, fences every write with its token, and gives it up when done. Another instance
// waits for it (polling), or takes it once it has expired: its owner died or froze, and the work
// it had in flight is resumed by whoever claims it (`claim()`), never by two.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import type { Lease, LeaseStore } from '../store/postgresql/leases.ts';
import { FencedError } from '../store/postgresql/leases.ts';
import type { SaveItem } from '../store/lifecycles.ts';
import { ServiceError } from '../services/errors.ts';

export interface OwnershipOptions {
  leases: LeaseStore;
  /** Where renewals go (a connection of their own, so that request traffic never delays them); `leases` unless given. */
  renewals?: Pick<LeaseStore, 'renewMany'>;
  /** This instance, as the leases name it (store.instance_id). */
  owner: string;
  /** How long a lease lasts without renewal (store.lease_ms): the longest a dead owner's work waits. */
  leaseMs: number;
  log: Logger;
  /** A lease taken over by another instance: its actors here must stop at once. */
  onLost?(key: string): void;
}

export interface Ownership {
  readonly owner: string;
  /**
   * Resolves once this instance holds the subscriber's lease (at once when it already does); rejects
   * once `gone()` says nobody waits for it any more (an operation its answer refused).
   */
  hold(key: string, gone?: () => boolean): Promise<void>;
  /** Gives the lease up; the next `hold` of the same key waits for that. */
  release(key: string): Promise<void>;
  /**
   * Writes the snapshots fenced by the leases held; answers the keys whose lease was lost (their
   * items are not written; the others are).
   */
  save(items: readonly SaveItem[]): Promise<Set<string>>;
  /** Takes the leases of in-flight work nobody holds (expired, or given up unfinished): the keys to resume. */
  claim(limit: number): Promise<string[]>;
  /**
   * Stops renewing and waiting, and gives every lease up (after the actors were stopped): their work
   * in flight is resumed by another instance's next `claim`, without waiting for expiry.
   */
  stop(): Promise<void>;
  /** How many subscribers' leases this instance holds. */
  readonly size: number;
  /**
   * Whether the instance named `owner` is alive: it holds its own instance lease, renewed with the
   * others (an instance that died or froze past `leaseMs` is not). This instance's own, at once.
   */
  alive(owner: string): Promise<boolean>;
}

/**
 * The lease each instance holds on itself, so that others can tell it is alive (an Idempotency-Key
 * it runs). Its key starts with a control character, which no subscriber id may contain.
 */
export const instanceKey = (owner: string) => `\u0001instance ${owner}`;

export function createOwnership(o: OwnershipOptions): Ownership {
  const held = new Map<string, Lease>();
  const releasing = new Map<string, Promise<void>>();
  let stopped = false;
  // Renewed well before expiry, all in one statement per round.
  const renewer = setInterval(() => void renew(), Math.max(50, Math.floor(o.leaseMs / 3)));
  renewer.unref();
  let renewing = false;

  async function renew(): Promise<void> {
    if (renewing || stopped) return;
    renewing = true;
    try {
      const lost = await (o.renewals ?? o.leases).renewMany([...held.values()], o.leaseMs);
      if (!held.has(self)) registered = register();
      for (const l of lost) {
        if (held.get(l.subscriberId)?.token !== l.token) continue;
        held.delete(l.subscriberId);
        if (l.subscriberId === self) {
          registered = register();
          continue;
        }
        o.log.warn({ subscriber_id: l.subscriberId, token: l.token }, 'lease taken over by another instance; stopping its work here');
        o.onLost?.(l.subscriberId);
      }
    } catch (err) {
      // The database unreachable: the leases run out unless a later round gets through; writes are fenced anyway.
      o.log.warn({ err: String(err) }, 'could not renew the leases; retrying');
    } finally {
      renewing = false;
    }
  }

  const take = (l: Lease) => void held.set(l.subscriberId, l);
  const self = instanceKey(o.owner);
  // Taken at once, and again whenever a renewal finds it lost (frozen past it, then thawed).
  const register = () =>
    o.leases.acquire(self, o.owner, o.leaseMs).then(
      (l) => void (l && take(l)),
      (err: unknown) => void o.log.warn({ err: String(err) }, 'could not take this instance\'s own lease; retrying at the next renewal'),
    );
  let registered = register();

  return {
    owner: o.owner,
    get size() {
      return held.size - (held.has(self) ? 1 : 0);
    },
    async alive(owner) {
      if (owner === o.owner) return true;
      await registered;
      return o.leases.live(instanceKey(owner));
    },
    async hold(key, gone) {
      await releasing.get(key);
      let delay = 20;
      for (;;) {
        if (stopped) throw new ServiceError('unavailable', 'this instance is stopping', { retryable: true, retryAfterMs: 1000 });
        // Polling on for an operation refused long ago would take the lease, only to refuse it then.
        if (gone?.()) throw new ServiceError('unavailable', 'not started: the operation was refused while it waited', { retryable: true, retryAfterMs: 1000 });
        if (held.has(key)) return;
        const got = await o.leases.acquire(key, o.owner, o.leaseMs);
        if (got) return take(got);
        // Another instance works on the subscriber: wait for it to finish, or for its lease to run out.
        await sleep(delay, undefined, { ref: false });
        delay = Math.min(delay * 2, 250);
      }
    },
    release(key) {
      const lease = held.get(key);
      if (!lease) return Promise.resolve();
      held.delete(key);
      const done = o.leases
        .release(lease)
        .then(() => undefined)
        .catch((err: unknown) => o.log.warn({ subscriber_id: key, err: String(err) }, 'could not give a lease up; it expires'))
        .finally(() => releasing.get(key) === done && releasing.delete(key));
      releasing.set(key, done);
      return done;
    },
    async save(items) {
      const lost = new Set<string>();
      let rest = items;
      for (;;) {
        const fenced = rest.map((i) => ({ ...i, token: held.get(i.row.subscriber_id)?.token ?? 0 }));
        try {
          await o.leases.saveFenced(fenced);
          return lost;
        } catch (err) {
          if (!(err instanceof FencedError)) throw err;
          // Refused whole: write the others again without the subscribers another instance owns now.
          for (const key of err.subscriberIds) {
            lost.add(key);
            held.delete(key);
          }
          rest = rest.filter((i) => !lost.has(i.row.subscriber_id));
          if (rest.length === 0) return lost;
        }
      }
    },
    async claim(limit) {
      if (stopped) return [];
      const keys: string[] = [];
      // Expired leases first, shared out among instances claiming at once (FOR UPDATE SKIP LOCKED).
      for (const l of await o.leases.takeOverExpired(o.owner, o.leaseMs, limit)) {
        take(l);
        keys.push(l.subscriberId);
      }
      // Then work in flight with no lease at all (its owner gave it up while stopping).
      for (const key of await o.leases.orphans(limit)) {
        if (held.has(key)) continue;
        const got = await o.leases.acquire(key, o.owner, o.leaseMs);
        if (!got) continue;
        take(got);
        keys.push(key);
      }
      return keys;
    },
    async stop() {
      stopped = true;
      clearInterval(renewer);
      await Promise.all([...held.keys()].map((key) => this.release(key)));
    },
  };
}
