import type { Db } from './db.ts';

export interface StoredResponse {
  request_hash: string;
  status: number;
  body: string;
}

/**
 * Where a keyed operation was accepted: its lifecycle, and the seq of the subscriber's last audit
 * entry just before (`markSeq`, stored as `mark_seq`). A key noted by an earlier version holds how
 * many entries the subscriber had (`mark`), which pruning shifts: read the old way, as it was meant.
 */
export type Acceptance = { lifecycleId: string } & ({ markSeq: number } | { mark: number });

/** A key as stored: `pending` until the operation's outcome replaces it; a `final` key's status and body are its answer. */
export interface StoredKey extends StoredResponse {
  state: 'pending' | 'final';
  /** Set once a pending operation was accepted (its event about to be sent). */
  accepted: Acceptance | null;
  /** Several instances: the instance running a pending operation; null on one node. */
  owner: string | null;
}

/**
 * A pending key's body (never replayed): who runs it and where it was accepted, as JSON. `null`
 * (nothing noted yet, no owner) is what keys stored by earlier versions hold.
 */
export function encodePending(owner: string | null | undefined, at: Acceptance | null): string {
  if (!owner && !at) return 'null';
  const mark = at && ('markSeq' in at ? { mark_seq: at.markSeq } : { mark: at.mark });
  return JSON.stringify({ ...(owner ? { owner } : {}), ...(at ? { lifecycleId: at.lifecycleId, ...mark } : {}) });
}

/** The pending key's row as read: its owner and acceptance decoded from the body. */
export function readKey(row: StoredResponse): StoredKey {
  if (row.status !== PENDING) return { ...row, state: 'final', accepted: null, owner: null };
  const noted = JSON.parse(row.body) as { lifecycleId?: unknown; mark_seq?: unknown; mark?: unknown; owner?: unknown } | null;
  const lifecycleId = typeof noted?.lifecycleId === 'string' ? noted.lifecycleId : null;
  const accepted: Acceptance | null =
    lifecycleId === null ? null
    : typeof noted!.mark_seq === 'number' ? { lifecycleId, markSeq: noted!.mark_seq }
    : typeof noted!.mark === 'number' ? { lifecycleId, mark: noted!.mark }
    : null;
  return { ...row, state: 'pending', accepted, owner: typeof noted?.owner === 'string' ? noted.owner : null };
}

/** Responses kept for `Idempotency-Key` replays. */
export interface IdempotencyStore {
  get(key: string): StoredKey | undefined;
  /** Stores a final answer; a key already stored keeps what it has. */
  put(key: string, response: StoredResponse): void;
  /** Records a request about to run, pending (run by `owner`, with several instances); false if the key is already stored. */
  begin(key: string, requestHash: string, owner?: string): boolean;
  /** Notes where the pending operation was accepted (keeping its owner). */
  accept(key: string, at: Acceptance, owner?: string): void;
  /**
   * Several instances: makes `owner` the one running a pending key whose owner died, only if the
   * key is still as `seen` (its body unchanged): of instances taking it over at once, one wins.
   */
  takeOver(key: string, seen: StoredKey, owner: string): boolean;
  /**
   * Replaces a pending key by its final answer; with `owner`, only while that instance runs it (not
   * once another took it over as the owner's, thought dead: it stores its own answer).
   */
  finish(key: string, status: number, body: string, owner?: string): void;
  /** Forgets a pending key whose answer is not to be replayed (a 5xx); with `owner`, only while that instance runs it. */
  forget(key: string, owner?: string): void;
  /**
   * Gives a pending key up without forgetting where it was accepted (a 5xx after the operation was
   * accepted): it keeps `at` and names no owner, so that a replay runs it again from there. With
   * `owner`, only while that instance runs it.
   */
  release(key: string, at: Acceptance, owner?: string): void;
  /** Forgets keys older than `before` (RFC 3339). */
  prune(before: string): number;
}

// A 202 is never a key's answer (the outcome replaces it), so status 202 marks a pending key; its
// body, never replayed, holds the acceptance and the owner (or null: `encodePending`). This needs no column of its own, and a 202
// stored by an older version (which kept it as the answer) now reads as pending: replayed, it is
// run again and answers its outcome instead of that 202 forever.
export const PENDING = 202;

// A pending key run by @owner. Only a pending key's body is read as JSON (`encodePending`'s), and
// CASE keeps that order: a final answer's body is the client's, whatever it holds.
const OWNED_BY = `CASE WHEN status = ${PENDING} THEN json_extract(body, '$.owner') END = @owner`;

export function createIdempotencyStore(db: Db): IdempotencyStore {
  const select = db.prepare<[string], StoredResponse>('SELECT request_hash, status, body FROM idempotency WHERE key = ?');
  const insert = db.prepare(
    'INSERT OR IGNORE INTO idempotency (key, request_hash, status, body, created_at) VALUES (@key, @request_hash, @status, @body, @created_at)',
  );
  const updatePending = db.prepare(`UPDATE idempotency SET status = @status, body = @body WHERE key = @key AND status = ${PENDING}`);
  const takeOver = db.prepare(`UPDATE idempotency SET body = @body WHERE key = @key AND status = ${PENDING} AND body = @old`);
  const deleteKey = db.prepare('DELETE FROM idempotency WHERE key = ?');
  const finishOwned = db.prepare(`UPDATE idempotency SET status = @status, body = @body WHERE key = @key AND ${OWNED_BY}`);
  const deleteOwned = db.prepare(`DELETE FROM idempotency WHERE key = @key AND ${OWNED_BY}`);
  const releaseOwned = db.prepare(`UPDATE idempotency SET body = @body WHERE key = @key AND ${OWNED_BY}`);
  const deleteOld = db.prepare('DELETE FROM idempotency WHERE created_at < ?');
  const now = () => new Date().toISOString();
  return {
    get(key) {
      const row = select.get(key);
      return row ? readKey(row) : undefined;
    },
    put(key, r) {
      if (r.status === PENDING) throw new Error('a 202 is not a final answer; begin() records a pending key');
      insert.run({ key, ...r, created_at: now() });
    },
    begin: (key, request_hash, owner) => insert.run({ key, request_hash, status: PENDING, body: encodePending(owner, null), created_at: now() }).changes === 1,
    accept: (key, at, owner) => void updatePending.run({ key, status: PENDING, body: encodePending(owner, at) }),
    takeOver: (key, seen, owner) => takeOver.run({ key, old: seen.body, body: encodePending(owner, seen.accepted) }).changes === 1,
    finish(key, status, body, owner) {
      if (status === PENDING) throw new Error('a 202 is not a final answer');
      if (owner) finishOwned.run({ key, status, body, owner });
      else updatePending.run({ key, status, body });
    },
    forget: (key, owner) => void (owner ? deleteOwned.run({ key, owner }) : deleteKey.run(key)),
    release: (key, at, owner) =>
      void (owner ? releaseOwned.run({ key, owner, body: encodePending(null, at) }) : updatePending.run({ key, status: PENDING, body: encodePending(null, at) })),
    prune: (before) => deleteOld.run(before).changes,
  };
}
