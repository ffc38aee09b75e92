// What an Idempotency-Key is bound to (http/idempotency.ts): the request, in a form that does not
// depend on how the client spelt its JSON.
import { createHash } from 'node:crypto';

/** sha256 of method, path, the body with keys sorted and the query but `wait` (`?dry_run=false` after
 * `?dry_run=true` is another request); with no such parameter, the hash keys stored before it had. */
export function requestHash(method: string, path: string, body: unknown, query: Record<string, unknown> = {}): string {
  const params = Object.fromEntries(Object.entries(query).filter(([name]) => name !== 'wait'));
  const tail = Object.keys(params).length > 0 ? `\n?${canonicalJson(params)}` : '';
  return createHash('sha256').update(`${method}\n${path}\n${canonicalJson(body ?? {})}${tail}`).digest('hex');
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
