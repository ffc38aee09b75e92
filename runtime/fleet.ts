// What an instance does as one of several on one PostgreSQL store, besides serving requests: it
// resumes the work in flight that nobody holds any more (an instance died, froze past its lease, or
// stopped mid-step), and it takes its turn as the leader that runs the scheduled singleton jobs.
import type { Logger } from 'pino';
import type { LifecyclePort } from '../store/port.ts';
import { startLeaderElection, type Leader } from '../store/postgresql/leader.ts';
import { UNTIL_SETTLED_MS, type ActorHost } from './actor-host.ts';
import type { Ownership } from './ownership.ts';

/** Leases claimed per round: a round that fills it goes on at once. */
const CLAIM_BATCH = 100;

export interface FleetOptions {
  url: string;
  ownership: Ownership;
  host: ActorHost;
  store: LifecyclePort;
  /** store.lease_ms: a round of take-overs every half of it. */
  leaseMs: number;
  /** store.leader_interval_ms. */
  leaderIntervalMs: number;
  log: Logger;
}

export interface Fleet {
  /** Whether this instance leads now (runs the scheduled jobs and reports the fleet-wide gauges). */
  readonly isLeader: boolean;
  /** One round of take-overs now; resolves with the subscribers whose work it resumed. */
  sweep(): Promise<string[]>;
  stop(): Promise<void>;
}

export function startFleet(o: FleetOptions): Fleet {
  const leader: Leader = startLeaderElection({
    url: o.url,
    intervalMs: o.leaderIntervalMs,
    onChange: (leads) => o.log.info({ instance: o.ownership.owner }, leads ? 'this instance leads: it runs the scheduled jobs' : 'this instance no longer leads'),
  });
  let sweeping: Promise<string[]> | null = null;

  const resume = (key: string) =>
    o.host
      .exclusive(key, async () => {
        // A step in flight: on the live lifecycle, or on the newest (a revocation's last step).
        const live = (await o.store.live(key)) ?? (await o.store.latest(key));
        if (!live?.busy) return;
        o.log.info({ subscriber_id: key, lifecycle_id: live.id, state: live.state }, 'resuming work in flight that no instance holds');
        await o.host.settle(live.id, UNTIL_SETTLED_MS);
      })
      .catch((err: unknown) => o.log.warn({ subscriber_id: key, err: String(err) }, 'could not resume work taken over; it is claimed again once its lease expires'));

  async function round(): Promise<string[]> {
    const resumed: string[] = [];
    try {
      for (;;) {
        const keys = await o.ownership.claim(CLAIM_BATCH);
        for (const key of keys) void resume(key);
        resumed.push(...keys);
        if (keys.length < CLAIM_BATCH) break;
      }
    } catch (err) {
      o.log.warn({ err: String(err) }, 'could not claim the work in flight nobody holds; next round');
    }
    return resumed;
  }

  const sweep = () => (sweeping ??= round().finally(() => (sweeping = null)));
  const timer = setInterval(() => void sweep(), Math.max(100, Math.floor(o.leaseMs / 2)));
  timer.unref();
  void sweep();

  return {
    get isLeader() {
      return leader.isLeader;
    },
    sweep,
    async stop() {
      clearInterval(timer);
      await sweeping;
      await leader.stop();
    },
  };
}
