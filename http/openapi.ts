import { createDocument, type oas31, type ZodOpenApiPathsObject } from 'zod-openapi';
import type { RouteSpec } from './routes/route.ts';

/** The OpenAPI 3.1 document of `routes`, rendered from the zod schemas the routes validate with. */
export function buildOpenApi(routes: readonly RouteSpec[], opts: { metricsToken: boolean }) {
  const paths: ZodOpenApiPathsObject = {};
  for (const r of routes) {
    const item = (paths[r.path] ??= {});
    if (item[r.method]) throw new Error(`route ${r.method.toUpperCase()} ${r.path} is declared twice`);
    item[r.method] = r.operation;
  }
  const document = createDocument({
    openapi: '3.1.0',
    // Relative: the paths are served on whatever host and port serve this document.
    servers: [{ url: '/', description: 'The service that served this document' }],
    info: {
      title: 'IPv6 lifecycle',
      version: '1.0.0',
      description:
        'Lifecycle of delegated IPv6 prefixes (DHCPv6-PD): allocation, activation, suspension, update and revocation. ' +
        'Every POST accepts `Idempotency-Key`; the lifecycle operations also take `?wait=`, and one not settled within it answers 202 with a `Location` to poll, or 503 "not started" when it has no `Idempotency-Key` and still waits for the subscriber’s earlier operation (`/jobs` and `/import` answer when they are done).',
    },
    tags: [
      { name: 'lifecycle', description: 'Operations on a subscriber’s delegated prefix' },
      { name: 'metrics', description: 'Utilization' },
      { name: 'system', description: 'Probes, exposition and this document' },
      { name: 'jobs', description: 'The scheduled jobs, run on demand' },
    ],
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'The API token from configuration or the environment' },
        ...(opts.metricsToken ? { metrics_bearer: { type: 'http', scheme: 'bearer', description: 'The metrics token' } } : {}),
      },
    },
    paths,
  });
  document.components = { ...document.components, headers: HEADERS };
  for (const [path, item] of Object.entries(document.paths ?? {})) {
    for (const [method, op] of Object.entries(item as Record<string, { responses?: Record<string, { headers?: Record<string, unknown> }> }>)) {
      for (const [status, response] of Object.entries(op.responses ?? {})) response.headers = { ...response.headers, ...headersOf(method, path, status) };
    }
  }
  return document;
}

// Headers the middleware sets rather than the routes, so no route's zod schema can declare them.
// `required`: every answer has an X-Request-Id and every 503 a Retry-After; only a replay is marked.
const HEADERS: Record<'X-Request-Id' | 'Retry-After' | 'Idempotent-Replayed', oas31.HeaderObject> = {
  'X-Request-Id': { required: true, description: 'The request id: the caller’s when it is 1–128 of `[A-Za-z0-9._:-]`, else a new UUID; every log line of the request has it', schema: { type: 'string' } },
  'Retry-After': { required: true, description: 'Seconds to wait before trying again', schema: { type: 'integer', minimum: 1 } },
  'Idempotent-Replayed': { description: '`true` when this is the stored answer of an earlier request with the same Idempotency-Key', schema: { type: 'string', enum: ['true'] } },
};

const ref = (name: keyof typeof HEADERS) => ({ $ref: `#/components/headers/${name}` });

// An Idempotency-Key stores every outcome below 500 except those answered before the body is read
// (401, 413, 414, 415, 431) and a mismatch (422); a 202 is never the key's answer (docs/api.md).
const NOT_REPLAYED = new Set(['202', '401', '413', '414', '415', '422', '431']);

function headersOf(method: string, path: string, status: string): Record<string, unknown> {
  return {
    'X-Request-Id': ref('X-Request-Id'),
    ...(status === '503' ? { 'Retry-After': ref('Retry-After') } : {}),
    ...(method === 'post' && path.startsWith('/api/') && Number(status) < 500 && !NOT_REPLAYED.has(status) ? { 'Idempotent-Replayed': ref('Idempotent-Replayed') } : {}),
  };
}

/** `/a/{b}/c` → `/a/:b/c`, the router's syntax. */
export const routerPath = (openapiPath: string) => openapiPath.replace(/\{([^}]+)\}/g, ':$1');
