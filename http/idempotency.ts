import { createHash } from 'node:crypto';
import type { Middleware } from 'koa';
import type { IdempotencyStore } from '../store/idempotency.ts';
import { ApiError, respondWithError } from './errors.ts';
import { idempotencyKey } from './schemas.ts';

export const IDEMPOTENCY_HEADER = 'Idempotency-Key';
const PRUNE_EVERY_MS = 60_000;

export interface IdempotencyOptions {
  store: IdempotencyStore;
  ttlSeconds: number;
  /** The Location of a replayed 201/202, rebuilt from the stored body (the store keeps no headers). */
  location: (body: unknown) => string | null;
}

/**
 * `Idempotency-Key` on a POST, after the body is parsed. The key maps to a hash of method, path and
 * canonical body plus the first answer; a replay returns that answer and runs nothing.
 *
 * Stored: every answer below 500, errors included (a 409 replays as a 409: the key names one attempt,
 * and the client asked once). Not stored: 5xx, including 503 `unavailable`, so that a client can
 * retry with the same key after an outage; and answers given before the body was read (401, 413,
 * 415, malformed JSON), since there is no body to hash. A 202 is stored as it was: its Location
 * still says where to poll.
 *
 * Keys are not scoped further than the one API token; one token means one client population.
 */
export function idempotency(opts: IdempotencyOptions): Middleware {
  // A duplicate sent while the first is still running waits for it, then replays its answer.
  const inflight = new Map<string, Promise<unknown>>();
  let lastPrune = 0;

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
      opts.store.prune(new Date(now - opts.ttlSeconds * 1000).toISOString());
    }

    const hash = requestHash(ctx.method, ctx.path, ctx.request.body);
    while (inflight.has(key)) await inflight.get(key);

    const stored = opts.store.get(key);
    if (stored) {
      if (stored.request_hash !== hash) {
        throw new ApiError('idempotency_mismatch', `${IDEMPOTENCY_HEADER} ${key} was used with a different request`, { field: IDEMPOTENCY_HEADER });
      }
      const body = JSON.parse(stored.body) as unknown;
      ctx.status = stored.status;
      ctx.body = body;
      const location = stored.status === 201 || stored.status === 202 ? opts.location(body) : null;
      if (location) ctx.set('Location', location);
      ctx.set('Idempotent-Replayed', 'true');
      return;
    }

    const run = (async () => {
      try {
        await next();
      } catch (err) {
        respondWithError(ctx, err);
      }
      if (ctx.status < 500 && ctx.body !== undefined) {
        opts.store.put(key, { request_hash: hash, status: ctx.status, body: JSON.stringify(ctx.body) });
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

/** sha256 of method, path and the body with object keys sorted, so key order does not matter. */
export function requestHash(method: string, path: string, body: unknown): string {
  return createHash('sha256').update(`${method}\n${path}\n${canonicalJson(body ?? {})}`).digest('hex');
}

function canonicalJson(v: unknown): string {
  if (Array.isArray(v)) return `[${v.map(canonicalJson).join(',')}]`;
  if (v !== null && typeof v === 'object') {
    const entries = Object.keys(v)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonicalJson((v as Record<string, unknown>)[k])}`);
    return `{${entries.join(',')}}`;
  }
  return JSON.stringify(v);
}
