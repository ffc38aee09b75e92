// `GET /reconciliation`: the differences the last `reconcile` run found (runtime/reconcile.ts), a page at a time.
import type { ReconciliationPort } from '../../store/port.ts';
import { LIST_DEFAULT_LIMIT, reconciliationList, reconciliationQuery } from '../schemas.ts';
import { parseInput } from '../validation.ts';
import { API_BASE, API_ERRORS, errorResponses, type RouteSpec } from './route.ts';

const json = <S>(schema: S) => ({ 'application/json': { schema } });

export function reconciliationRoutes(results: Pick<ReconciliationPort, 'lastRun' | 'page'>): RouteSpec[] {
  return [
    {
      method: 'get',
      path: `${API_BASE}/reconciliation`,
      operation: {
        tags: ['jobs'],
        security: [{ bearer: [] }],
        operationId: 'listReconciliation',
        summary: 'The differences the last reconciliation run found, by kind, a page at a time',
        description:
          'Kinds: `ipam_orphan`, `ipam_missing`, `radreply_missing`, `radreply_stale`, `session_foreign_prefix`, `cpe_still_delegating`, `cpe_not_delegating` ' +
          '(docs/adoption.md, "Reconciliation"). Run it with `POST /jobs/reconcile` (`?dry_run=true` to preview); each run replaces the list.',
        requestParams: { query: reconciliationQuery },
        responses: { '200': { description: 'One page; `next_cursor` is null on the last', content: json(reconciliationList) }, ...errorResponses(...API_ERRORS) },
      },
      handler: async (ctx) => {
        const q = parseInput(reconciliationQuery, { ...ctx.query }, 'query');
        const { items, next } = await results.page({ kind: q.kind, limit: q.limit ?? LIST_DEFAULT_LIMIT, after: q.cursor === undefined ? undefined : Number(q.cursor) });
        ctx.body = { run: await results.lastRun(), items: items.map(({ seq: _seq, ...rest }) => rest), next_cursor: next === null ? null : String(next) };
      },
    },
  ];
}
