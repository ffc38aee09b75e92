// The cursor of the lifecycle list (`listLifecycles`): where a page in creation order ends, opaque
// to the client (base64url of its order and the last row's (created_at, id)), checked when it comes back.
import { ServiceError } from '../services/errors.ts';

/** A list position: the order and the last lifecycle of the page before, by (created_at, id). */
export type Cursor = { order: 'asc' | 'desc'; created_at: string; id: string };

/** The opaque text the API hands out as `next_cursor`. */
export const writeCursor = (c: Cursor) => Buffer.from(JSON.stringify([c.order, c.created_at, c.id]), 'utf8').toString('base64url');

/** A `cursor` the client sent back; refused (400, field cursor) unless this service wrote it. */
export function readCursor(text: string): Cursor {
  const refuse = () => new ServiceError('validation_error', 'cursor: not a cursor this service returned', { field: 'cursor' });
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(text, 'base64url').toString('utf8'));
  } catch {
    throw refuse();
  }
  if (!Array.isArray(parsed) || parsed.length !== 3) throw refuse();
  const [order, createdAt, id] = parsed as unknown[];
  const time = /^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z$/;
  // Lifecycle ids are UUIDs (v4 before time-ordered ids, v7 since); anything else was not handed out here.
  const uuid = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/;
  if ((order !== 'asc' && order !== 'desc') || typeof createdAt !== 'string' || !time.test(createdAt) || typeof id !== 'string' || !uuid.test(id)) throw refuse();
  return { order, created_at: createdAt, id };
}
