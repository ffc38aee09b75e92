import { createDocument, type ZodOpenApiPathsObject } from 'zod-openapi';
import type { RouteSpec } from './routes/route.ts';

/** The OpenAPI 3.1 document of `routes`, rendered from the zod schemas the routes validate with. */
export function buildOpenApi(routes: readonly RouteSpec[], opts: { metricsToken: boolean }) {
  const paths: ZodOpenApiPathsObject = {};
  for (const r of routes) {
    const item = (paths[r.path] ??= {});
    if (item[r.method]) throw new Error(`route ${r.method.toUpperCase()} ${r.path} is declared twice`);
    item[r.method] = r.operation;
  }
  return createDocument({
    openapi: '3.1.0',
    info: {
      title: 'IPv6 lifecycle',
      version: '1.0.0',
      description:
        'Lifecycle of delegated IPv6 prefixes (DHCPv6-PD): allocation, activation, suspension, update and revocation. ' +
        'Every POST accepts `Idempotency-Key` and `?wait=`; an operation not settled within `wait` answers 202 with a `Location` to poll.',
    },
    tags: [
      { name: 'lifecycle', description: 'Operations on a subscriber’s delegated prefix' },
      { name: 'metrics', description: 'Utilization' },
      { name: 'system', description: 'Probes, exposition and this document' },
    ],
    components: {
      securitySchemes: {
        bearer: { type: 'http', scheme: 'bearer', description: 'The API token from configuration or the environment' },
        ...(opts.metricsToken ? { metrics_bearer: { type: 'http', scheme: 'bearer', description: 'The metrics token' } } : {}),
      },
    },
    paths,
  });
}

/** `/a/{b}/c` → `/a/:b/c`, the router's syntax. */
export const routerPath = (openapiPath: string) => openapiPath.replace(/\{([^}]+)\}/g, ':$1');
