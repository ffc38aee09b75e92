// The HTTP face of the service (`../shared/API.md`). Middleware order, outermost first:
// request id + access log → error funnel → request line (length, percent-encoding) → bearer auth and readiness on /api/ → router, whose POST
// routes read the JSON body and consult Idempotency-Key before the handler runs.
import Router from '@koa/router';
import Koa from 'koa';
import type { Logger } from 'pino';
import type { Registry } from 'prom-client';
import type { z } from 'zod';
import type { Config } from '../config.ts';
import type { LifecycleService } from '../runtime/lifecycle-service.ts';
import type { IdempotencyPort } from '../store/port.ts';
import type { ReconciliationPort } from '../store/port.ts';
import { bearerCheck } from './auth.ts';
import { jsonBody } from './body.ts';
import { ApiError, errorFunnel } from './errors.ts';
import { idempotency } from './idempotency.ts';
import { buildOpenApi, routerPath } from './openapi.ts';
import { requestContext, type AppState } from './request-context.ts';
import { requestLine } from './request-line.ts';
import { lifecycleRoutes } from './routes/lifecycles.ts';
import { importRoutes, type Importer } from './routes/import.ts';
import { jobRoutes, type JobRunner } from './routes/jobs.ts';
import { operationRoutes } from './routes/operations.ts';
import { reconciliationRoutes } from './routes/reconciliation.ts';
import { lifecycleLocation, type RouteContext, type RouteSpec } from './routes/route.ts';
import { systemRoutes } from './routes/system.ts';
import { parseInput } from './validation.ts';
import type { ApiMetricsSummary } from './schemas.ts';

export type { ApiMetricsSummary } from './schemas.ts';

export interface AppDeps {
  service: LifecycleService;
  idempotency: IdempotencyPort;
  /** Several instances: who runs a pending Idempotency-Key (http/idempotency.ts). */
  instances?: { owner: string; alive(owner: string): Promise<boolean> };
  /** Exposition for `GET /metrics`. */
  registry: Registry;
  /** `GET /api/v1/network/ipv6/metrics`. */
  summary: () => Promise<ApiMetricsSummary>;
  /** False until start-up recovery has finished: `/readyz` and every `/api/` route answer 503. */
  ready: () => boolean;
  /** Why the service is not ready, for `/readyz` and the 503 of `/api/` (else a generic reason). */
  notReady?: () => string | null;
  /** `/readyz`: `notReady` after a fresh probe of the store (several instances). */
  checkReady?: () => Promise<string | null>;
  api: Config['api'];
  /** Bearer token for `/api/`. */
  token: string;
  /** When set, `GET /metrics` needs this bearer token. */
  metricsToken: string | null;
  log: Logger;
  /** `POST /jobs/{job}` (runtime/scheduler.ts); absent, the route is not served. */
  jobs?: JobRunner;
  /** `POST /import` (services/adoption/); absent, the route is not served. */
  importer?: Importer;
  /** `GET /reconciliation` (store/reconciliation.ts); absent, the route is not served. */
  reconciliation?: Pick<ReconciliationPort, 'lastRun' | 'page'>;
  /** How long past `?wait=` an operation may go unanswered before its 503 (http/routes/operations.ts); tests shorten it. */
  answerGraceMs?: number;
}

const isApi = (path: string) => path === '/api' || path.startsWith('/api/');

export function createApp(deps: AppDeps): Koa<AppState> {
  const app = new Koa<AppState>();
  // The funnel answers every error a middleware throws; what reaches Koa is a failure after the answer
  // started (a client gone mid-body). Logged, never printed to stderr.
  app.on('error', (err: unknown, ctx?: { state?: Partial<AppState> }) => (ctx?.state?.log ?? deps.log).warn({ err }, 'response failed'));

  let document: unknown = null;
  const routes: RouteSpec[] = [
    ...operationRoutes(deps.service, deps.api, deps.answerGraceMs),
    ...lifecycleRoutes(deps.service, deps.summary),
    ...(deps.jobs ? jobRoutes(deps.jobs) : []),
    ...(deps.importer ? importRoutes(deps.importer) : []),
    ...(deps.reconciliation ? reconciliationRoutes(deps.reconciliation) : []),
    ...systemRoutes({ registry: deps.registry, metricsToken: deps.metricsToken, ready: deps.ready, ...(deps.notReady ? { notReady: deps.notReady } : {}), ...(deps.checkReady ? { checkReady: deps.checkReady } : {}), document: () => document }),
  ];
  document = buildOpenApi(routes, { metricsToken: deps.metricsToken !== null });

  // Case-sensitive, as the document's paths are: the bearer check and readiness above test the exact
  // prefix `/api/`, and a router that matched `/API/…` served every route past them without a token.
  // Strict for the same reason: `/lifecycle/x/` or `/jobs/cleanup/` is no path of the document.
  const router = new Router<AppState>({ sensitive: true, strict: true });
  const body = jsonBody(deps.api.body_limit_bytes);
  const replay = idempotency({
    store: deps.idempotency,
    ttlSeconds: deps.api.idempotency_ttl_s,
    ...(deps.instances ? { instances: deps.instances } : {}),
    defaultWaitMs: deps.api.default_wait_ms,
    maxWaitMs: deps.api.max_wait_ms,
    location: (b) => {
      const id = (b as { subscriber_id?: unknown } | null)?.subscriber_id;
      return typeof id === 'string' ? lifecycleLocation(id) : null;
    },
  });
  for (const r of routes) {
    const path = routerPath(r.path);
    if (r.method === 'post') router.post(path, body, queryCheck(r), replay, r.handler);
    else router.get(path, r.handler);
  }

  const checkToken = bearerCheck(deps.token, 'api');
  app.use(requestContext(deps.log));
  app.use(errorFunnel());
  app.use(requestLine());
  app.use(async (ctx, next) => {
    if (isApi(ctx.path)) {
      checkToken(ctx);
      if (!deps.ready()) throw new ApiError('unavailable', deps.notReady?.() ?? 'start-up recovery is still running', { headers: { 'Retry-After': '1' } });
    }
    await next();
  });
  app.use(router.routes());
  app.use(router.allowedMethods());
  return app;
}

/**
 * The route's documented query, checked before an Idempotency-Key can answer: the key's hash leaves
 * `?wait=` out, so a replay answered `allocate?wait=abc` (or `import?wait=0`) where the request
 * without a stored key is 400 naming `wait` (test/review15/fuzz-replay-query.test.ts).
 */
function queryCheck(r: RouteSpec) {
  const query = r.operation.requestParams?.query;
  return async (ctx: RouteContext, next: () => Promise<unknown>) => {
    if (query) parseInput(query as z.ZodType, { ...ctx.query }, 'query');
    await next();
  };
}
