import { v7 as uuidv7 } from 'uuid';
import type { LifecycleEvent } from '../machines/types.ts';
import { ServiceError, type ErrorCode } from '../services/errors.ts';
import type { LifecyclePort } from '../store/port.ts';
import { UNTIL_SETTLED_MS, type ActorHost } from './actor-host.ts';
import { UsernameClaims } from './usernames.ts';
import { HeardOutcome, notStarted, Turn, type Came } from './heard-outcome.ts';
import type { Accepted, Acceptance, OperationResult, PoolSpec, Ticket } from './operation-types.ts';
import { EVENT_OF, givenBackLater, invalidTransition, lengthFor, rollbackCode, throwIfFailed, type Verb } from './operation-rules.ts';
import { readCursor, writeCursor } from './list-cursor.ts';
import { publicState, statePath, resourceOf, toResource, type LifecycleResource, type LifecycleSnapshot } from './projection.ts';

export interface LifecycleServiceOptions {
  host: ActorHost;
  store: LifecyclePort;
  pools: PoolSpec[];
  defaultPool: string;
  /** For a pool removed from the configuration that lifecycles still use, the error refusing an allocation in it; else null. */
  draining?: (pool: string) => ServiceError | null;
  /** radreply's usernames: why one cannot be taken (activate: 400, no step), and whether case and trailing spaces fold. */
  usernames?: { problem(username: string): string | null; folded: boolean } | null;
}

/** How long a 202 waits past `?wait=` for its operation's event to be sent (see `#within`). */
const SENT_WAIT_MS = 250;

/** The lifecycle operations of `../shared/API.md`, serialized per subscriber. */
export class LifecycleService {
  readonly #opts: LifecycleServiceOptions;
  readonly #pools: Map<string, PoolSpec>;
  readonly #usernames: UsernameClaims;

  constructor(opts: LifecycleServiceOptions) {
    this.#opts = opts;
    this.#usernames = new UsernameClaims(opts.store, { folded: opts.usernames?.folded ?? false });
    this.#pools = new Map(opts.pools.map((p) => [p.name, p]));
  }

  get pools(): PoolSpec[] {
    return [...this.#pools.values()];
  }

  allocate(req: { subscriber_id: string; pool?: string | undefined; prefix_length?: number | undefined }, waitMs: number, ticket?: Ticket): Promise<Accepted> {
    const pool = this.#pool(req.pool ?? this.#opts.defaultPool);
    const prefixLength = lengthFor(pool, req.prefix_length);
    const turn = new Turn('allocate', !ticket);
    const heard = new HeardOutcome();
    const final = this.#opts.host.exclusive(req.subscriber_id, async () => {
      const resumed = await this.#resumed('allocate', req.subscriber_id, ticket?.resume);
      if (resumed) return resumed;
      // A lifecycle still being revoked is waited for: once it is revoked, the subscriber gets a new one.
      const live = await this.#liveSettled(req.subscriber_id);
      if (live) return { created: false, settled: live.busy === 0, lifecycle: toResource(live) };
      // Time-ordered (UUIDv7): ids sort by creation, as lists do (store/lifecycles.ts orders by (created_at, id)).
      const lifecycleId = uuidv7();
      const markSeq = ticket ? await this.#opts.store.lastSeq(req.subscriber_id) : 0;
      if (!turn.start()) throw notStarted(turn);
      ticket?.accepted({ lifecycleId, markSeq });
      const input = { lifecycleId, subscriberId: req.subscriber_id, pool: pool.name, prefixLength, ipam: pool.ipam };
      // Allocated within this turn's commit when the IPAM can (the embedded one): settled, no actor.
      const atOnce = await this.#opts.host.createAtOnce(input);
      if (atOnce) return { created: true, settled: true, lifecycle: resourceOf(atOnce.row, atOnce.snapshot.context) };
      this.#opts.host.create(input);
      turn.sent.resolve();
      return this.#outcome('allocate', lifecycleId);
    }, heard, () => turn.refused);
    return this.#within(req.subscriber_id, final, waitMs, turn, heard);
  }

  activate(req: { subscriber_id: string; username: string; cpe_id?: string | null | undefined }, waitMs: number, ticket?: Ticket) {
    const problem = this.#opts.usernames?.problem(req.username) ?? null;
    if (problem !== null) return Promise.reject(new ServiceError('validation_error', `username: ${problem}`, { field: 'username' }));
    const event = { type: 'ACTIVATE', username: req.username, cpeId: req.cpe_id ?? null } as const;
    return this.#operate('activate', req.subscriber_id, waitMs, ticket, () => event, () => this.#usernames.take(req.username, req.subscriber_id));
  }

  suspend(req: { subscriber_id: string; reason?: string | null | undefined }, waitMs: number, ticket?: Ticket) {
    return this.#operate('suspend', req.subscriber_id, waitMs, ticket, () => ({ type: 'SUSPEND', reason: req.reason ?? null }));
  }

  reactivate(req: { subscriber_id: string }, waitMs: number, ticket?: Ticket) {
    return this.#operate('reactivate', req.subscriber_id, waitMs, ticket, () => ({ type: 'REACTIVATE' }));
  }

  retry(req: { subscriber_id: string }, waitMs: number, ticket?: Ticket) {
    return this.#operate('retry', req.subscriber_id, waitMs, ticket, () => ({ type: 'RETRY' }));
  }

  revoke(req: { subscriber_id: string; reason?: string | null | undefined }, waitMs: number, ticket?: Ticket) {
    return this.#operate('revoke', req.subscriber_id, waitMs, ticket, () => ({ type: 'REVOKE', reason: req.reason ?? null }));
  }

  update(req: { subscriber_id: string; pool?: string | undefined; prefix_length?: number | undefined }, waitMs: number, ticket?: Ticket) {
    return this.#operate('update', req.subscriber_id, waitMs, ticket, (snapshot) => {
      const pool = this.#pool(req.pool ?? snapshot.context.current?.pool ?? snapshot.context.pool);
      return { type: 'UPDATE', pool: pool.name, prefixLength: lengthFor(pool, req.prefix_length), ipam: pool.ipam };
    });
  }

  /** The subscriber's live lifecycle, or else the newest one. */
  async get(subscriberId: string): Promise<LifecycleResource> {
    const row = await this.#liveOrLatest(subscriberId);
    if (!row) throw new ServiceError('not_found', `subscriber ${subscriberId} has no lifecycle`, { field: 'subscriber_id' });
    return toResource(row);
  }

  async events(subscriberId: string) {
    const events = await this.#opts.store.events(subscriberId);
    if (events.length === 0) throw new ServiceError('not_found', `subscriber ${subscriberId} has no lifecycle`, { field: 'subscriber_id' });
    return events.map((e) => ({
      at: e.at,
      lifecycle_id: e.lifecycle_id,
      type: e.type,
      from: e.from_state,
      to: e.to_state,
      detail: e.detail === null ? null : (JSON.parse(e.detail) as unknown),
    }));
  }

  /** A page in creation order, newest first unless `order` is `asc`; `next_cursor` continues it. */
  async list(q: { state?: string | undefined; pool?: string | undefined; limit: number; order?: 'asc' | 'desc' | undefined; cursor?: string | undefined }) {
    // A draining pool's lifecycles can still be listed: that is how an operator finds who is left.
    if (q.pool !== undefined && !this.#opts.draining?.(q.pool)) this.#pool(q.pool);
    const after = q.cursor === undefined ? undefined : readCursor(q.cursor);
    const order = after?.order ?? q.order ?? 'desc';
    if (q.order !== undefined && q.order !== order) {
      throw new ServiceError('validation_error', `cursor: it continues a list in order=${order}, not order=${q.order}`, { field: 'cursor' });
    }
    const rows = await this.#opts.store.list({ state: q.state, pool: q.pool, limit: q.limit + 1, order, after });
    const page = rows.slice(0, q.limit);
    const last = page.at(-1);
    const next = rows.length > q.limit && last ? writeCursor({ order, created_at: last.created_at, id: last.id }) : null;
    return { items: page.map(toResource), next_cursor: next };
  }

  /** `claim` takes what the event needs for itself (a username) once the event is allowed; its release runs after the event's commit. */
  #operate(
    verb: Verb,
    subscriberId: string,
    waitMs: number,
    ticket: Ticket | undefined,
    build: (s: LifecycleSnapshot) => LifecycleEvent,
    claim?: () => Promise<() => void>,
  ): Promise<Accepted> {
    const turn = new Turn(verb, !ticket);
    const heard = new HeardOutcome();
    const final = this.#opts.host.exclusive(subscriberId, async (): Promise<OperationResult> => {
      const resumed = await this.#resumed(verb, subscriberId, ticket?.resume);
      if (resumed) return resumed;
      const live = await this.#liveSettled(subscriberId);
      if (!live) {
        const latest = await this.#opts.store.latest(subscriberId);
        // Revoking what is already revoked answers with it (API.md), so a retried deprovisioning is harmless.
        if (verb === 'revoke' && latest) return { created: false, settled: true, lifecycle: toResource(latest) };
        if (latest) throw invalidTransition(verb, 'revoked');
        throw new ServiceError('not_found', `subscriber ${subscriberId} has no lifecycle`, { field: 'subscriber_id' });
      }
      const before = await this.#opts.host.snapshot(live.id);
      if (!before) throw new ServiceError('not_found', `subscriber ${subscriberId} has no lifecycle`, { field: 'subscriber_id' });
      // A revocation already under way answers a repeated revoke: deprovisioning workflows retry.
      if (verb === 'revoke' && publicState(before) === 'revoking') return { created: false, settled: false, lifecycle: toResource(live) };
      const event = build(before);
      if (!before.can(event)) {
        const busy = before.hasTag('busy') ? ` while ${statePath(before)} is in progress` : '';
        throw invalidTransition(verb, publicState(before), busy);
      }
      const release = await claim?.();
      try {
        const markSeq = ticket ? await this.#opts.store.lastSeq(subscriberId) : 0;
        if (!turn.start()) throw notStarted(turn);
        ticket?.accepted({ lifecycleId: live.id, markSeq });
        await this.#opts.host.send(live.id, event);
      } catch (err) {
        release?.();
        throw err;
      }
      turn.sent.resolve();
      if (release) void this.#opts.host.afterCommit().then(release, release);
      return this.#outcome(verb, live.id);
    }, heard, () => turn.refused);
    return this.#within(subscriberId, final, waitMs, turn, heard);
  }

  /**
   * Waits for the lifecycle to settle and answers what the operation that was sent to it came to. A
   * reaction on the host's wait, not a suspended frame: after a 202 it can wait, parked, for hours.
   */
  #outcome(verb: Verb | 'allocate', lifecycleId: string): Promise<OperationResult> {
    return this.#opts.host.settleThen(lifecycleId, ({ snapshot, settled }) => this.#came(verb, lifecycleId, snapshot, settled));
  }

  /** What the operation came to, once its lifecycle settled (or its actor was stopped under it: `settled` false). */
  async #came(verb: Verb | 'allocate', lifecycleId: string, snapshot: LifecycleSnapshot, settled: boolean): Promise<OperationResult> {
    if (verb === 'allocate') {
      // IPAM refused for certain: the machine closed the lifecycle (it stays in the history as revoked).
      const refused = publicState(snapshot) === 'revoked' ? snapshot.context.lastError : null;
      if (refused) throw new ServiceError(refused.code as ErrorCode, refused.message, { field: refused.code === 'not_found' ? 'pool' : null });
    }
    if (settled) throwIfFailed(verb, snapshot);
    const rolledBack = verb === 'update' && settled && snapshot.context.lastError;
    if (rolledBack) {
      const f = snapshot.context.lastError!;
      throw new ServiceError(rollbackCode(f.code), `update rolled back at ${f.step} (${f.code}): ${f.message}; the subscriber keeps ${snapshot.context.current?.prefix}${givenBackLater(snapshot.context)}`);
    }
    return { created: verb === 'allocate', settled, lifecycle: await this.#resource(lifecycleId) };
  }

  /**
   * The outcome of an earlier run of this request whose event is on disk, or null when it never got
   * that far (it is then run now). Its event is the first of its type on that lifecycle after the mark:
   * the seq of the subscriber's last audit entry when it was accepted (asked only with a ticket), not a
   * count, which the audit retention shifts by pruning older entries (test/review12 markseq-retention).
   */
  async #resumed(verb: Verb | 'allocate', subscriberId: string, at: Acceptance | null | undefined): Promise<OperationResult | null> {
    if (!at) return null;
    const store = this.#opts.store;
    // A key noted before mark_seq holds a count: read the old way, as it was noted.
    const after = 'markSeq' in at ? await store.eventsAfter(subscriberId, at.markSeq) : (await store.events(subscriberId)).slice(at.mark);
    const type = verb === 'allocate' ? null : EVENT_OF[verb];
    const applied = after.some((e) => e.lifecycle_id === at.lifecycleId && (type === null || e.type === type));
    return applied ? this.#outcome(verb, at.lifecycleId) : null;
  }

  /**
   * `final` if it comes within `waitMs`, else the subscriber's lifecycle as it is now, not settled.
   * A 202 shows the operation's first transition (`revoking`, not the state before it) when its
   * event is sent within `SENT_WAIT_MS` more: on PostgreSQL the lease and the reads before it are
   * round trips; while another instance holds the subscriber, the lifecycle as it is.
   */
  async #within(subscriberId: string, final: Promise<OperationResult>, waitMs: number, turn?: Turn, told?: HeardOutcome): Promise<Accepted> {
    let heard = told;
    if (!heard) {
      // Followed again (a replay): one reaction of its own, which handles a rejection too.
      const h = (heard = new HeardOutcome());
      final.then(
        (value) => h.resolve(value),
        (error: unknown) => h.reject(error),
      );
    }
    const h = heard;
    const until = (ms: number, also?: Promise<void>) => h.until(ms, also);
    await until(waitMs);
    const first = h.came;
    if (first?.ok) return { ...first.value, final };
    if (first) throw first.error;
    if (turn) {
      await until(SENT_WAIT_MS, turn.sent.promise);
      const late = h.came as Came | null;
      if (late?.ok) return { ...late.value, final };
      if (late) throw late.error;
      // Still waiting its turn: refused, unless a revocation under way already covers a repeated revoke.
      const covered = turn.verb === 'revoke' && (await this.#opts.store.live(subscriberId))?.state === 'revoking';
      if (!covered && turn.refuse()) throw notStarted(turn, waitMs);
      // Started meanwhile: its event is being stored; what it came to by then is the answer.
      await until(SENT_WAIT_MS, turn.sent.promise);
      const last = h.came as Came | null;
      if (last?.ok) return { ...last.value, final };
      if (last) throw last.error;
    }
    // Answer with what is on disk: a transition of this turn is in the next group commit.
    await this.#opts.host.afterCommit().catch(() => undefined);
    const row = await this.#liveOrLatest(subscriberId);
    if (!row) return { ...(await final), final };
    return { created: false, settled: false, lifecycle: toResource(row), final };
  }

  /** An operation already under way, followed for another `waitMs` (a replay of its Idempotency-Key). */
  follow(subscriberId: string, final: Promise<OperationResult>, waitMs: number): Promise<Accepted> {
    return this.#within(subscriberId, final, waitMs);
  }

  /**
   * The subscriber's live lifecycle once the work an earlier request started has finished:
   * operations on one subscriber are serialized even after an earlier one answered 202.
   */
  async #liveSettled(subscriberId: string) {
    const live = await this.#opts.store.live(subscriberId);
    if (!live || live.busy === 0) return live;
    await this.#opts.host.settle(live.id, UNTIL_SETTLED_MS);
    return this.#opts.store.live(subscriberId);
  }

  async #liveOrLatest(subscriberId: string) {
    return (await this.#opts.store.live(subscriberId)) ?? (await this.#opts.store.latest(subscriberId));
  }

  async #resource(lifecycleId: string): Promise<LifecycleResource> {
    const row = this.#opts.host.storedRow(lifecycleId) ?? (await this.#opts.store.get(lifecycleId));
    if (!row) throw new Error(`lifecycle ${lifecycleId} vanished`);
    return toResource(row);
  }

  #pool(name: string): PoolSpec {
    const pool = this.#pools.get(name);
    if (!pool) throw this.#opts.draining?.(name) ?? new ServiceError('not_found', `unknown pool ${name}`, { field: 'pool' });
    return pool;
  }
}
