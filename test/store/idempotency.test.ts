import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { openDatabase, type Db } from '../../store/db.ts';
import { createIdempotencyStore, type IdempotencyStore } from '../../store/idempotency.ts';

const test = suite('store idempotency');
let db: Db;
let keys: IdempotencyStore;
test.before.each(() => {
  db = openDatabase(':memory:');
  keys = createIdempotencyStore(db);
});
test.after.each(() => {
  db.close();
});

const answer = (status: number, body: unknown) => ({ request_hash: `hash-${status}`, status, body: JSON.stringify(body) });
const final = (status: number, body: unknown) => ({ ...answer(status, body), state: 'final', accepted: null, owner: null });
/** Moves a stored key's creation time, as if it had been stored then. */
const storedAt = (key: string, at: string) => db.prepare('UPDATE idempotency SET created_at = ? WHERE key = ?').run(at, key);

test('get(key) → undefined for a key never stored; the stored response once put', () => {
  assert.is(keys.get('k1'), undefined);
  keys.put('k1', answer(201, { state: 'allocated' }));
  assert.equal(keys.get('k1'), final(201, { state: 'allocated' }));
  assert.is(keys.get('k2'), undefined);
});

test('put(key) again → the first response stays (a replay never replaces the answer it replays)', () => {
  keys.put('k1', answer(201, { n: 1 }));
  keys.put('k1', answer(409, { n: 2 }));
  assert.equal(keys.get('k1'), final(201, { n: 1 }));
});

test('begin(key) → pending; accept() notes where it was accepted; finish() replaces it by the final answer, once', () => {
  assert.is(keys.begin('k1', 'h'), true);
  assert.is(keys.begin('k1', 'other'), false, 'a key already stored is not begun again');
  assert.equal(keys.get('k1'), { request_hash: 'h', status: 202, body: 'null', state: 'pending', accepted: null, owner: null });
  keys.accept('k1', { lifecycleId: 'lc-1', mark: 7 });
  assert.equal(keys.get('k1')?.accepted, { lifecycleId: 'lc-1', mark: 7 });
  assert.is(keys.get('k1')?.state, 'pending');
  keys.finish('k1', 201, '{"n":1}');
  assert.equal(keys.get('k1'), { request_hash: 'h', status: 201, body: '{"n":1}', state: 'final', accepted: null, owner: null });
  keys.finish('k1', 409, '{"n":2}');
  keys.accept('k1', { lifecycleId: 'lc-2', mark: 9 });
  assert.is(keys.get('k1')?.body, '{"n":1}', 'a final answer is never replaced');
});

test('finish() or put() with 202 → throws: a 202 is never the answer a key replays', () => {
  keys.begin('k1', 'h');
  assert.throws(() => keys.finish('k1', 202, '{}'));
  assert.throws(() => keys.put('k2', answer(202, {})));
});

test('forget(key) → the key is gone, and can be begun again', () => {
  keys.begin('k1', 'h');
  keys.forget('k1');
  assert.is(keys.get('k1'), undefined);
  assert.is(keys.begin('k1', 'h'), true);
});

test('put(key) → stamps the time it was stored', () => {
  const before = new Date().toISOString();
  keys.put('k1', answer(200, {}));
  const { created_at } = db.prepare('SELECT created_at FROM idempotency WHERE key = ?').get('k1') as { created_at: string };
  assert.ok(created_at >= before && created_at <= new Date().toISOString(), created_at);
});

test('prune(before) → forgets the keys stored before that time, keeps the rest, and says how many went', () => {
  for (const k of ['old1', 'old2', 'edge', 'new']) keys.put(k, answer(200, { k }));
  storedAt('old1', '2026-01-01T00:00:00.000Z');
  storedAt('old2', '2026-01-02T00:00:00.000Z');
  storedAt('edge', '2026-01-03T00:00:00.000Z');
  storedAt('new', '2026-01-04T00:00:00.000Z');
  assert.is(keys.prune('2026-01-03T00:00:00.000Z'), 2);
  assert.equal(['old1', 'old2', 'edge', 'new'].map((k) => keys.get(k) !== undefined), [false, false, true, true]);
  assert.is(keys.prune('2026-01-03T00:00:00.000Z'), 0);
});

test.run();
