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
/** Moves a stored key's creation time, as if it had been stored then. */
const storedAt = (key: string, at: string) => db.prepare('UPDATE idempotency SET created_at = ? WHERE key = ?').run(at, key);

test('get(key) → undefined for a key never stored; the stored response once put', () => {
  assert.is(keys.get('k1'), undefined);
  keys.put('k1', answer(201, { state: 'allocated' }));
  assert.equal(keys.get('k1'), answer(201, { state: 'allocated' }));
  assert.is(keys.get('k2'), undefined);
});

test('put(key) again → the first response stays (a replay never replaces the answer it replays)', () => {
  keys.put('k1', answer(201, { n: 1 }));
  keys.put('k1', answer(409, { n: 2 }));
  assert.equal(keys.get('k1'), answer(201, { n: 1 }));
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
