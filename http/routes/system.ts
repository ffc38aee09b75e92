// Routes outside `/api/`: for Prometheus, orchestrators' probes and API clients' generators.
import { z } from 'zod';
import type { Registry } from 'prom-client';
import { bearerCheck } from '../auth.ts';
import { ApiError } from '../errors.ts';
import { healthResponse, readyResponse } from '../schemas.ts';
import { errorResponses, type RouteSpec } from './route.ts';

// Answered before any route, on every path, these included: 400 (malformed percent-encoding, a
// repeated header: http/request-line.ts), 414 and 431 (http/server.ts).
const REQUEST_LINE_ERRORS = [400, 414, 431] as const;

export interface SystemDeps {
  registry: Registry;
  metricsToken: string | null;
  ready: () => boolean;
  /** Why not ready (the store takes no writes, NetBox pools unresolved); overrides `ready` when given. */
  notReady?: () => string | null;
  /** `notReady` after a fresh look at the store (a probe of PostgreSQL); `/readyz` prefers it when given. */
  checkReady?: () => Promise<string | null>;
  /** The OpenAPI document; a thunk because it documents these routes too. */
  document: () => unknown;
}

export function systemRoutes(deps: SystemDeps): RouteSpec[] {
  const checkMetrics = deps.metricsToken ? bearerCheck(deps.metricsToken, 'metrics') : null;
  return [
    {
      method: 'get',
      path: '/metrics',
      operation: {
        operationId: 'prometheusMetrics',
        tags: ['system'],
        summary: 'Prometheus exposition',
        security: checkMetrics ? [{ metrics_bearer: [] }] : [],
        responses: {
          '200': { description: 'Text exposition format', content: { 'text/plain': { schema: z.string() } } },
          ...errorResponses(...(checkMetrics ? [401, 405, 500] : [405, 500]), ...REQUEST_LINE_ERRORS),
        },
      },
      handler: async (ctx) => {
        checkMetrics?.(ctx);
        const text = await deps.registry.metrics();
        ctx.type = deps.registry.contentType;
        ctx.body = text;
      },
    },
    {
      method: 'get',
      path: '/healthz',
      operation: {
        operationId: 'healthz',
        tags: ['system'],
        summary: 'Liveness: 200 while the process runs',
        security: [],
        responses: { '200': { description: 'Alive', content: { 'application/json': { schema: healthResponse } } }, ...errorResponses(405, ...REQUEST_LINE_ERRORS) },
      },
      handler: (ctx) => {
        ctx.body = { status: 'ok' };
      },
    },
    {
      method: 'get',
      path: '/readyz',
      operation: {
        operationId: 'readyz',
        tags: ['system'],
        summary: 'Readiness: 200 once start-up recovery has finished and while the store takes writes; 503 says why not',
        security: [],
        responses: { '200': { description: 'Ready', content: { 'application/json': { schema: readyResponse } } }, ...errorResponses(405, 503, ...REQUEST_LINE_ERRORS) },
      },
      handler: async (ctx) => {
        const reason = deps.checkReady ? await deps.checkReady() : deps.notReady ? deps.notReady() : deps.ready() ? null : 'start-up recovery is still running';
        if (reason !== null) throw new ApiError('unavailable', reason, { headers: { 'Retry-After': '1' } });
        ctx.body = { status: 'ready' };
      },
    },
    {
      method: 'get',
      path: '/openapi.json',
      operation: {
        operationId: 'openapi',
        tags: ['system'],
        summary: 'This OpenAPI 3.1 document',
        security: [],
        responses: { '200': { description: 'The document', content: { 'application/json': { schema: z.record(z.string(), z.unknown()) } } }, ...errorResponses(405, ...REQUEST_LINE_ERRORS) },
      },
      handler: (ctx) => {
        ctx.body = deps.document();
      },
    },
  ];
}
