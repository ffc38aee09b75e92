import { setTimeout as sleep } from 'node:timers/promises';
import type { Context, Middleware } from 'koa';
import type { Logger } from 'pino';
import type { LifecycleResource } from '../runtime/projection.ts';
import type { OperationResult, Ticket } from '../runtime/operation-types.ts';
import { ServiceError } from '../services/errors.ts';
import type { Acceptance, StoredKey } from '../store/idempotency.ts';
import type { IdempotencyPort } from '../store/port.ts';
import { ApiError, respondWithError, toErrorAnswer } from './errors.ts';
import { endingWrite, KeyWrites } from './key-writes.ts';
import type { ApiErrorCode } from './schemas.ts';
import { idempotencyKey } from './schemas.ts';
import { requestHash } from './request-hash.ts';

export { requestHash } from './request-hash.ts';

export const IDEMPOTENCY_HEADER = 'Idempotency-Key';
const PRUNE_EVERY_MS = 60_000;
/** How long a replay with no lifecycle to show, or not yet accepted, follows another instance's
 * answer past its own wait (spent while the key was claimed); then 503, and the client sends it again. */
const FOLLOW_PAST_WAIT_MS = 1000;

export interface IdempotencyOptions {
  store: IdempotencyPort;
  ttlSeconds: number;
  /** The Location of a replayed 201/202, rebuilt from the stored body (the store keeps no headers). */
  location: (body: unknown) => string | null;
  /**
   * Several instances on one store: this instance's name and whether another is alive. A pending
   * key another live instance runs is followed through the store (its answer when it lands); one
   * whose instance died is taken over by one instance and run again from what the key noted.
   */
  instances?: { owner: string; alive(owner: string): Promise<boolean> };
  /** api.default_wait_ms and api.max_wait_ms: how long a replay waits for another instance's answer. */
  defaultWaitMs?: number;
  maxWaitMs?: number;
}

/** What a keyed request hands the operation route (`ctx.state.idempotency`), and what it hands back. */
export interface KeyedRequest {
  /** Passed to the operation: it notes on disk where the operation was accepted, or resumes an earlier run. */
  ticket: Ticket;
  /** Set on a replay of an operation still running (here, or on another instance): follow it, do not run it again. */
  running?: Promise<OperationResult>;
  /** How long to follow `running` instead of the request's `?wait=` (its wait was spent already). */
  waitMs?: number;
  /** Set by the route when it answered 202: the outcome, and the answer it makes (null: still not settled). */
  final?: { result: Promise<OperationResult>; answer: (r: OperationResult) => { status: number; body: unknown } | null };
}

export function keyedRequest(ctx: Context): KeyedRequest | undefined {
  return (ctx.state as { idempotency?: KeyedRequest }).idempotency;
}

/**
 * `Idempotency-Key` on a POST, after the body is parsed. The key maps to a hash of method, path, query
 * (but `?wait=`) and canonical body plus the request's answer; a replay returns that answer and runs nothing.
 *
 * The key is stored `pending` before the request runs, and the operation notes on it where it was
 * accepted (lifecycle, audit position) just before its event is sent. The key's answer is the
 * operation's outcome: a 202 (the `?wait=` ran out) is not stored as the answer, the outcome
 * replaces it when it comes. A replay meanwhile follows the running operation for its own `?wait=`
 * (then 202 with Location again). A pending key that no operation in this process is running (the
 * process died) runs the request again with what the key noted: an event already in the audit
 * trail is not sent twice, its outcome is awaited and answered.
 *
 * Stored: every answer below 500, errors included (a 409 replays as a 409: the key names one attempt,
 * and the client asked once). Not stored: 5xx, including 503 `unavailable`, so that a client can
 * retry with the same key after an outage; and answers given before the body was read (401, 413,
 * 415, malformed JSON), since there is no body to hash; nor a 400 refusing `?wait=`, which the
 * hash leaves out.
 *
 * Several instances: a pending key names the instance running it. A replay on another instance
 * waits (within its `?wait=`) for that instance's answer while it is alive, then answers it, or 202
 * with the lifecycle as it is (503 shortly after when there is none); once that instance is dead
 * (its own lease expired), one instance takes the key over and runs it again from what it noted,
 * as after a crash on one node; so is a key its instance gave up after a 5xx that followed the
 * acceptance (`endingWrite`). The write that ends an instance's hold on a key (its answer, or
 * forgetting or giving it up) is tried again while the store refuses it (`KeyWrites`), and only
 * while the key is still its own: a live owner that no longer runs a key would hold every replay elsewhere.
 *
 * Keys are not scoped further than the one API token; one token means one client population.
 */
export function idempotency(opts: IdempotencyOptions): Middleware {
  // A duplicate sent while the first is still running waits for its answer, then replays or follows it.
  const inflight = new Map<string, Promise<unknown>>();
  // Operations that answered 202 and are still running, by key: a replay follows them.
  const running = new Map<string, Promise<OperationResult>>();
  // The writes that end this instance's hold on a key, tried again while the store refuses them.
  const writes = new KeyWrites({ giveUpMs: opts.ttlSeconds * 1000 });
  const me = opts.instances?.owner;
  let lastPrune = 0;

  /** Stores the outcome of an operation that answered 202, when it comes. */
  const settleLater = (key: string, final: NonNullable<KeyedRequest['final']>, accepted: () => Acceptance | null, log: Logger | undefined) => {
    running.set(key, final.result);
    void final.result
      .then(
        (r) => {
          const a = final.answer(r);
          // Not settled: the actor was stopped under it (shutdown). The key stays pending; a replay resumes it.
          if (a) return writes.write(key, () => opts.store.finish(key, a.status, JSON.stringify(a.body), me), log);
        },
        (err) => {
          const a = toErrorAnswer(err);
          return writes.write(key, endingWrite(opts.store, key, me, a.status, JSON.stringify(a.body), accepted()), log);
        },
      )
      .finally(() => {
        if (running.get(key) === final.result) running.delete(key);
      });
  };

  /**
   * The outcome another live instance stores for a key it runs: polled; an instance that dies
   * meanwhile (or gives the key up on a 5xx) ends the wait with 503, and the client's retry takes it
   * over. So does `deadline`: an owner alive but silent (frozen, its database cut off) is not waited for.
   */
  async function storedOutcome(key: string, owner: string, deadline: number): Promise<OperationResult> {
    const gone = (why: string) => new ServiceError('unavailable', `${IDEMPOTENCY_HEADER} ${key}: ${why}; send it again`, { retryable: true, retryAfterMs: 1000 });
    let delay = 25;
    let checked = Date.now();
    for (;;) {
      // Its owner alive and still not done: this request has waited what it may (the owner stores the answer).
      if (Date.now() >= deadline) throw gone(`instance ${owner} is still running it`);
      await sleep(delay);
      delay = Math.min(delay * 2, 500);
      const now = await opts.store.get(key);
      if (!now) throw gone('the instance running it gave it up');
      if (now.state === 'final') {
        const body = JSON.parse(now.body) as unknown;
        if (now.status < 300) return { created: now.status === 201, settled: true, lifecycle: body as LifecycleResource };
        const e = (body as { error?: { code: ApiErrorCode; message: string; field?: string | null } }).error;
        throw e ? new ApiError(e.code, e.message, { field: e.field ?? null }) : gone('its answer cannot be replayed');
      }
      owner = now.owner ?? owner;
      if (Date.now() - checked > 1000) {
        checked = Date.now();
        if (!(await opts.instances!.alive(owner))) throw gone('the instance running it stopped');
      }
    }
  }

  const refusedWait = (ctx: Context) => ctx.status === 400 && (ctx.body as { error?: { field?: unknown } } | undefined)?.error?.field === 'wait';

  /** How long this request may wait for another instance's answer: its `?wait=` (the route checks it), or the default. */
  const waitBudget = (ctx: Context): number => {
    const w = Number(ctx.query.wait);
    return Number.isInteger(w) && w >= 0 ? Math.min(w, opts.maxWaitMs ?? 60_000) : (opts.defaultWaitMs ?? 5000);
  };

  /**
   * Several instances: the key begun, or taken over from an instance that died or gave it up (no
   * owner), by exactly one (`begin` and `takeOver` are atomic); while another live instance runs it, waits until `deadline`
   * for its answer. Resolves with the key as it stands then, and whom to follow if it still runs elsewhere.
   */
  async function claim(key: string, hash: string, me: string, first: StoredKey | undefined, deadline: number) {
    let stored = first;
    let delay = 25;
    for (;;) {
      if (!stored) {
        if (await opts.store.begin(key, hash, me)) return { stored: undefined, begun: true, followOwner: null };
      } else if (stored.state !== 'pending' || stored.request_hash !== hash || stored.owner === me || running.has(key)) {
        return { stored, begun: false, followOwner: null };
      } else if (!stored.owner || !(await opts.instances!.alive(stored.owner))) {
        // Its instance died or gave it up: run it again from what the key noted, here, unless another instance took it first.
        if (await opts.store.takeOver(key, stored, me)) return { stored: { ...stored, owner: me }, begun: false, followOwner: null };
        // Another instance took it first (or its owner wrote it after all): read it again, within the wait.
        if (Date.now() >= deadline && stored.owner) return { stored, begun: false, followOwner: stored.owner };
      } else if (Date.now() >= deadline) {
        return { stored, begun: false, followOwner: stored.owner };
      } else {
        await sleep(Math.min(delay, Math.max(1, deadline - Date.now())));
        delay = Math.min(delay * 2, 250);
      }
      stored = await opts.store.get(key);
    }
  }

  return async (ctx, next) => {
    // Absent is fine; present but empty is a malformed key, not "no key".
    if (ctx.headers[IDEMPOTENCY_HEADER.toLowerCase()] === undefined) return next();
    const raw = ctx.get(IDEMPOTENCY_HEADER);
    const parsed = idempotencyKey.safeParse(raw);
    if (!parsed.success) {
      const message = `${IDEMPOTENCY_HEADER}: ${parsed.error.issues[0]?.message ?? 'invalid'}`;
      throw new ApiError('validation_error', message, { field: IDEMPOTENCY_HEADER });
    }
    const key = parsed.data;

    const now = Date.now();
    if (now - lastPrune > PRUNE_EVERY_MS) {
      lastPrune = now;
      await opts.store.prune(new Date(now - opts.ttlSeconds * 1000).toISOString());
    }

    const hash = requestHash(ctx.method, ctx.path, ctx.request.body, ctx.query);
    while (inflight.has(key)) await inflight.get(key);
    // What an earlier request for the key here could not write (the store refused it) lands first.
    await writes.flush(key);

    let stored = await opts.store.get(key);
    let begun = false;
    let followOwner: string | null = null;
    if (me) ({ stored, begun, followOwner } = await claim(key, hash, me, stored, Date.now() + waitBudget(ctx)));
    if (followOwner && stored?.request_hash === hash && !stored.accepted) {
      // Not accepted there yet: a 202 would have the client poll for work nobody runs if that instance
      // dies first (only a replay carries the request). Its answer within a second, else 503 to send again.
      await storedOutcome(key, followOwner, Date.now() + FOLLOW_PAST_WAIT_MS);
      stored = await opts.store.get(key);
    }
    if (stored && stored.request_hash !== hash) {
      throw new ApiError('idempotency_mismatch', `${IDEMPOTENCY_HEADER} ${key} was used with a different request`, { field: IDEMPOTENCY_HEADER });
    }
    if (stored?.state === 'final') {
      const body = JSON.parse(stored.body) as unknown;
      ctx.status = stored.status;
      ctx.body = body;
      // Every keyed answer is a JSON object but `POST /import?format=csv`'s text, which Koa would label text/plain.
      if (typeof body === 'string') ctx.type = 'text/csv; charset=utf-8';
      const location = stored.status === 201 || stored.status === 202 ? opts.location(body) : null;
      if (location) ctx.set('Location', location);
      ctx.set('Idempotent-Replayed', 'true');
      return;
    }
    const log = (ctx.state as { log?: Logger }).log;
    const following = running.get(key);
    if (stored && following) {
      // Still running here: follow it; its own request stores the outcome.
      (ctx.state as { idempotency?: KeyedRequest }).idempotency = { ticket: { accepted: () => undefined }, running: following };
      await next();
      ctx.set('Idempotent-Replayed', 'true');
      return;
    }
    if (followOwner) {
      // Still run by another instance, alive, past this request's `?wait=`: 202 with the lifecycle as
      // it is now, and the other instance stores the outcome (a later replay answers it).
      const outcome = storedOutcome(key, followOwner, Date.now() + FOLLOW_PAST_WAIT_MS);
      (ctx.state as { idempotency?: KeyedRequest }).idempotency = { ticket: { accepted: () => undefined }, running: outcome, waitMs: 0 };
      await next();
      ctx.set('Idempotent-Replayed', 'true');
      return;
    }
    // Pending with nothing running it: the process that ran it died. Run it again from what the key noted.
    if (!stored && !begun) await opts.store.begin(key, hash);
    // The service calls `accepted` synchronously just before it sends the event: the write starts
    // there (on SQLite it is done there), and the key's outcome is stored only once it has landed.
    let noted: Promise<void> = Promise.resolve();
    let acceptedAt = stored?.accepted ?? null;
    const keyed: KeyedRequest = {
      ticket: {
        accepted: (at) => {
          acceptedAt = at;
          // Caught at once, so that a failure is never an unhandled rejection while the operation runs.
          noted = opts.store.accept(key, at, me).catch((err: unknown) => {
            log?.warn({ err: String(err), idempotency_key: key }, 'could not note where a keyed operation was accepted; a replay after a crash runs it again');
          });
        },
        resume: stored?.accepted ?? null,
      },
    };
    (ctx.state as { idempotency?: KeyedRequest }).idempotency = keyed;

    const run = (async () => {
      try {
        await next();
      } catch (err) {
        respondWithError(ctx, err);
      }
      if (stored) ctx.set('Idempotent-Replayed', 'true');
      // The acceptance has landed before the client hears of the operation: a 202 it replays after
      // a crash then resumes the operation instead of running it again.
      await noted;
      // An operation that goes on after its answer (a 202, or a 503 past its wait) leaves the key
      // pending: its outcome replaces it. A 202 with no outcome to wait for here: a replay resumes it.
      // Otherwise this instance's hold on the key ends here, once the store takes the write.
      if (keyed.final) settleLater(key, keyed.final, () => acceptedAt, log);
      else if (ctx.status !== 202) {
        // A refused `?wait=` is forgotten, not stored: the hash leaves wait out, so it would answer the request with its wait fixed.
        const body = ctx.body === undefined || refusedWait(ctx) ? undefined : JSON.stringify(ctx.body);
        await writes.write(key, endingWrite(opts.store, key, me, ctx.status, body, acceptedAt), log);
      }
    })();
    inflight.set(key, run.catch(() => undefined));
    try {
      await run;
    } finally {
      inflight.delete(key);
    }
  };
}
