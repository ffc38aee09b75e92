import type { Db } from './db.ts';

export interface StoredResponse {
  request_hash: string;
  status: number;
  body: string;
}

/** Responses kept for `Idempotency-Key` replays. */
export interface IdempotencyStore {
  get(key: string): StoredResponse | undefined;
  put(key: string, response: StoredResponse): void;
  /** Forgets keys older than `before` (RFC 3339). */
  prune(before: string): number;
}

export function createIdempotencyStore(db: Db): IdempotencyStore {
  const select = db.prepare<[string], StoredResponse>('SELECT request_hash, status, body FROM idempotency WHERE key = ?');
  const insert = db.prepare(
    'INSERT OR IGNORE INTO idempotency (key, request_hash, status, body, created_at) VALUES (@key, @request_hash, @status, @body, @created_at)',
  );
  const deleteOld = db.prepare('DELETE FROM idempotency WHERE created_at < ?');
  return {
    get: (key) => select.get(key),
    put: (key, r) => void insert.run({ key, ...r, created_at: new Date().toISOString() }),
    prune: (before) => deleteOld.run(before).changes,
  };
}
