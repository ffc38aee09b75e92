import { randomUUID } from 'node:crypto';
import type { Middleware } from 'koa';
import type { Logger } from 'pino';
import { withLogScope } from '../runtime/log-context.ts';

/** What every request carries in `ctx.state`. */
export interface AppState {
  requestId: string;
  log: Logger;
}

// An incoming id ends up in log lines and a response header: accept only what cannot forge either.
const SAFE_ID = /^[A-Za-z0-9._:-]{1,128}$/;
const PROBES = new Set(['/healthz', '/readyz', '/metrics']);

/** The caller's `X-Request-Id` if it is safe to log and echo, else a new one. */
export const requestIdFor = (incoming: string | undefined): string => (incoming && SAFE_ID.test(incoming) ? incoming : randomUUID());

/**
 * The outermost middleware: a request id (the caller's `X-Request-Id` if it is safe, else a new one)
 * on every answer, a child logger carrying it, and one access line per request. Headers are never
 * logged: Authorization holds the token.
 */
export function requestContext(log: Logger): Middleware<AppState> {
  return async (ctx, next) => {
    const requestId = requestIdFor(ctx.get('X-Request-Id'));
    ctx.state.requestId = requestId;
    ctx.state.log = log.child({ request_id: requestId });
    ctx.set('X-Request-Id', requestId);
    const started = performance.now();
    try {
      // Lines about the lifecycles this request moves (their steps, retries, events) carry its id.
      await withLogScope({ request_id: requestId }, () => next());
    } finally {
      const error = (ctx.body as { error?: { code?: string } } | null)?.error?.code;
      // Probes and scrapes arrive every few seconds; at info they would drown the operations.
      const level = PROBES.has(ctx.path) && ctx.status < 400 ? 'debug' : 'info';
      ctx.state.log[level](
        { method: ctx.method, path: ctx.path, status: ctx.status, duration_ms: Math.round(performance.now() - started), ...(error ? { error } : {}) },
        'request',
      );
    }
  };
}
