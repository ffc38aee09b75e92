// What the composition root (compose.ts) takes and gives.
import type Koa from 'koa';
import type { Logger } from 'pino';
import type { Importer } from './http/routes/import.ts';
import type { IpamKind } from './machines/types.ts';
import type { ActorHost } from './runtime/actor-host.ts';
import type { LifecycleService } from './runtime/lifecycle-service.ts';
import type { Scheduler } from './runtime/scheduler.ts';
import type { CpePort } from './services/genieacs/port.ts';
import type { IpamPort } from './services/ipam/port.ts';
import type { DynamicAuthorizationPort, RadiusReplyPort } from './services/radius/port.ts';
import type { Db } from './store/db.ts';
import type { LifecycleStore } from './store/lifecycles.ts';

/** Ports a test (or a future backend) puts in place of the configured ones. */
export interface Overrides {
  ipam?: IpamPort;
  /** What the override IPAM is, for the names of its steps (`fake_allocate`); `fake` unless said. */
  ipamKind?: IpamKind;
  replies?: RadiusReplyPort | null;
  sessions?: DynamicAuthorizationPort | null;
  cpe?: CpePort | null;
}

export interface Composed {
  app: Koa;
  service: LifecycleService;
  host: ActorHost;
  store: LifecycleStore;
  db: Db;
  log: Logger;
  token: string;
  /** True when no token was configured and one was made up for this run. */
  tokenGenerated: boolean;
  /** True once start-up recovery has run and the store takes writes. */
  ready(): boolean;
  /** Why `/readyz` answers 503 (resolving NetBox pools, recovery, a store that takes no writes); null when ready. */
  notReady(): string | null;
  /**
   * Resolves NetBox pool parents, then start-up recovery (resumes every lifecycle with a step in
   * flight), then the schedulers. A NetBox that stays down does not fail it: the resolution goes on
   * in the background with backoff and the service becomes ready when NetBox answers.
   */
  start(): Promise<void>;
  /** Ends every request's wait for settling at once: they answer 202 with a Location (graceful stop). */
  release(): void;
  /** Stops, and removes the database if this start created it: a start that failed leaves no files. */
  discard(): Promise<void>;
  /** Runs the pending-work scheduler once (tests call it instead of waiting for the interval). */
  tickPending(): Promise<number>;
  /** Runs leak detection and the clean-up once (without retention; `jobs.run('cleanup')` has it). */
  cleanup(): Promise<{ revoked: number; reclaimed: number }>;
  /** The scheduled jobs `cleanup`, `leaks`, `pending`, `reconcile` (runtime/jobs.ts), also run on demand. */
  jobs: Scheduler;
  /** Brownfield adoption (services/adoption/): `POST /import` and `npm run import`. */
  importer: Importer;
  stop(): Promise<void>;
}
