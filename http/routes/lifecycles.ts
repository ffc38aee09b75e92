// Read-only routes under the API base: one lifecycle, its audit trail, a filtered page, the summary.
import type { LifecycleService } from '../../runtime/lifecycle-service.ts';
import {
  apiMetricsSummary,
  LIST_DEFAULT_LIMIT,
  lifecycleEvents,
  lifecycleList,
  lifecycleResource,
  listQuery,
  subscriberPath,
  type ApiMetricsSummary,
} from '../schemas.ts';
import { z } from 'zod';
import { parseInput } from '../validation.ts';
import { API_BASE, API_ERRORS, errorResponses, type RouteContext, type RouteSpec } from './route.ts';

const json = <S>(schema: S) => ({ 'application/json': { schema } });
// These routes take no query: a stray parameter is refused like anywhere else, by name.
const noQuery = z.strictObject({});

/** The subscriber a GET names in its path, once the path and the (empty) query are valid. */
function subscriberOf(ctx: RouteContext): string {
  const { subscriber_id } = parseInput(subscriberPath, { ...ctx.params }, 'path');
  parseInput(noQuery, { ...ctx.query }, 'query');
  return subscriber_id;
}

export function lifecycleRoutes(service: LifecycleService, summary: () => Promise<ApiMetricsSummary>): RouteSpec[] {
  const common = { tags: ['lifecycle'], security: [{ bearer: [] }] };
  return [
    {
      method: 'get',
      path: `${API_BASE}/lifecycle/{subscriber_id}`,
      operation: {
        ...common,
        operationId: 'getLifecycle',
        summary: 'The subscriber’s live lifecycle, or else the newest one',
        requestParams: { path: subscriberPath },
        responses: { '200': { description: 'The lifecycle', content: json(lifecycleResource) }, ...errorResponses(...API_ERRORS, 404) },
      },
      handler: async (ctx) => {
        ctx.body = await service.get(subscriberOf(ctx));
      },
    },
    {
      method: 'get',
      path: `${API_BASE}/lifecycle/{subscriber_id}/events`,
      operation: {
        ...common,
        operationId: 'getLifecycleEvents',
        summary: 'The audit trail of every lifecycle of the subscriber, oldest first',
        requestParams: { path: subscriberPath },
        responses: { '200': { description: 'The events', content: json(lifecycleEvents) }, ...errorResponses(...API_ERRORS, 404) },
      },
      handler: async (ctx) => {
        ctx.body = { events: await service.events(subscriberOf(ctx)) };
      },
    },
    {
      method: 'get',
      path: `${API_BASE}/lifecycle`,
      operation: {
        ...common,
        operationId: 'listLifecycles',
        summary: 'Lifecycles, filtered by state and pool, a page at a time',
        requestParams: { query: listQuery },
        responses: { '200': { description: 'One page; `next_cursor` is null on the last', content: json(lifecycleList) }, ...errorResponses(...API_ERRORS, 404) },
      },
      handler: async (ctx) => {
        const q = parseInput(listQuery, withoutEmpty(ctx.query, listQuery.shape), 'query');
        ctx.body = await service.list({ ...q, limit: q.limit ?? LIST_DEFAULT_LIMIT });
      },
    },
    {
      method: 'get',
      path: `${API_BASE}/metrics`,
      operation: {
        ...common,
        tags: ['metrics'],
        operationId: 'metricsSummary',
        summary: 'Pool utilization, lifecycles per state and leaked prefixes, for people and dashboards',
        responses: { '200': { description: 'The summary', content: json(apiMetricsSummary) }, ...errorResponses(...API_ERRORS, 502) },
      },
      handler: async (ctx) => {
        parseInput(noQuery, { ...ctx.query }, 'query');
        ctx.body = await summary();
      },
    },
  ];
}

/**
 * The query without the empty values of the route's own parameters: API.md's template
 * `?state=&pool=&limit=&cursor=`, filled in by a script, sends them for "no filter", "first page".
 * An unknown parameter stays, empty or not, and is refused by name.
 */
function withoutEmpty(query: Record<string, unknown>, known: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(query).filter(([k, v]) => !(v === '' && Object.hasOwn(known, k))));
}
