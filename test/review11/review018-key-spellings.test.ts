// Review 018: migration 018 spells a block's key two ways (the generation beside its lifecycle, or
// the key's text), in JS (services/ipam/embedded-blocks.ts) and in SQL (the ipam_allocations view
// and its insert trigger). A property test over random lifecycle ids (lowercase and uppercase UUIDs,
// short ids, non-UUID text, ids holding ':allocate:') and random keys (own step form, another
// lifecycle's, leading zeros, long generations, free text), written through the IPAM and through the
// view, read both ways: every block reads back as written, and one key text is one block whoever
// asks, as the UNIQUE (key) of the table before 018 made it.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { openDatabase } from '../../store/db.ts';
import { createBlocks } from '../../services/ipam/embedded-blocks.ts';
import { createRandom, type Random } from '../support/soak-random.ts';

const test = suite('review018: a key is the same under the JS and the SQL spelling');
let dir: string;
test.before.each(() => {
  dir = mkdtempSync(join(tmpdir(), 'review018-'));
});
test.after.each(() => rmSync(dir, { recursive: true, force: true }));

const hexOf = (r: Random, n: number) => Array.from({ length: n }, () => '0123456789abcdef'[r.int(0, 15)]).join('');
const uuid = (r: Random) => `${hexOf(r, 8)}-${hexOf(r, 4)}-${hexOf(r, 4)}-${hexOf(r, 4)}-${hexOf(r, 12)}`;
const gen = (r: Random) => r.pick(['0', '1', String(r.int(2, 99999)), '123456789012345', '1234567890123456', '01', '-1', '']);

function lifecycleId(r: Random, others: string[]): string {
  switch (r.int(0, 5)) {
    case 0: return uuid(r);
    case 1: return uuid(r).toUpperCase();
    case 2: return r.pick(['a', 'x', 'lc', 'ü']);
    case 3: return `lc-${hexOf(r, 3)}`;
    case 4: return others.length > 0 ? `${r.pick(others)}:allocate:${gen(r)}` : `${uuid(r)}:allocate:1`;
    default: return `${uuid(r)}:allocate:${hexOf(r, 2)}`;
  }
}

function key(r: Random, id: string, others: string[]): string {
  switch (r.int(0, 3)) {
    case 0: return `${id}:allocate:${gen(r)}`;
    case 1: return others.length > 0 ? `${r.pick(others)}:allocate:${gen(r)}` : `${id}:allocate:0`;
    case 2: return r.pick(['held', `${id}:release:0`, `${id}:allocate:${gen(r)}:allocate:${gen(r)}`]);
    default: return others.length > 0 ? r.pick(others) : id;
  }
}

const COLUMNS = 'pool, start_hex, end_hex, prefix, prefix_length, key, lifecycle_id, subscriber_id, allocated_at';
const viaView = `INSERT INTO ipam_allocations (${COLUMNS}) VALUES (${COLUMNS.split(', ').map((c) => `@${c}`).join(', ')})`;

test('random ids and keys, written through the IPAM and the view, read back the same both ways; a held key text is never held twice', () => {
  for (let seed = 1; seed <= 40; seed++) {
    const r = createRandom(seed);
    const db = openDatabase(join(dir, `s${seed}.sqlite`));
    const blocks = createBlocks(db);
    const insertView = db.prepare(viaView);
    const held = new Map<string, string>();
    const written: Record<string, unknown>[] = [];
    const ids: string[] = [];
    for (let i = 1; i <= 60; i++) {
      const id = r.chance(0.3) && ids.length > 0 ? r.pick(ids) : lifecycleId(r, ids);
      ids.push(id);
      const k = key(r, id, [...ids, ...held.keys()]);
      const row = {
        pool: 'p', start_hex: `20010db8${i.toString(16).padStart(4, '0')}${'0'.repeat(20)}`, end_hex: `20010db8${i.toString(16).padStart(4, '0')}${'f'.repeat(20)}`,
        prefix: `2001:db8:${i.toString(16)}::/48`, prefix_length: 48, key: k, lifecycle_id: id, subscriber_id: `s-${i}`, allocated_at: '2026-12-03T09:06:08.511Z',
      };
      const how = `seed ${seed} row ${i}: key ${JSON.stringify(k)} of ${JSON.stringify(id)}`;
      const holder = held.get(k);
      // The IPAM looks a key up before it writes: whoever holds the text is found.
      assert.is(blocks.byKey(k, id)?.lifecycle_id, holder, `${how}: byKey finds the holder (${holder})`);
      if (holder !== undefined) {
        assert.throws(() => insertView.run(row), /UNIQUE constraint failed/, `${how}: the view refuses the key ${holder} holds`);
        continue;
      }
      if (r.chance(0.5)) blocks.insert(row);
      else insertView.run(row);
      held.set(k, id);
      written.push(row);
    }
    assert.equal(db.prepare(`SELECT ${COLUMNS} FROM ipam_allocations ORDER BY pool, start_hex`).all(), written, `seed ${seed}: the view reads every block as written`);
    assert.equal(blocks.all(), written.map((w) => ({ pool: w.pool, prefix: w.prefix, lifecycleId: w.lifecycle_id, key: w.key })), `seed ${seed}: the IPAM reads every block as written`);
    db.close();
  }
});

test('a key of the step form of a lifecycle whose id holds :allocate: is one block: the IPAM finds it, the view refuses it again', () => {
  const db = openDatabase(join(dir, 'db.sqlite'));
  const blocks = createBlocks(db);
  const row = (n: number, lifecycle_id: string, key: string) => ({
    pool: 'p', start_hex: `20010db8000${n}${'0'.repeat(20)}`, end_hex: `20010db8000${n}${'f'.repeat(20)}`, prefix: `2001:db8:${n}::/48`, prefix_length: 48,
    key, lifecycle_id, subscriber_id: `s-${n}`, allocated_at: '2026-12-03T09:06:08.511Z',
  });
  blocks.insert(row(1, 'x:allocate:1', 'x:allocate:1:allocate:2'));
  assert.is(blocks.byKey('x:allocate:1:allocate:2', 'x')?.lifecycle_id, 'x:allocate:1', 'the IPAM finds the block another lifecycle holds under the key');
  assert.throws(() => db.prepare(viaView).run(row(2, 'x', 'x:allocate:1:allocate:2')), /UNIQUE constraint failed/);
  assert.is(db.prepare("SELECT count(*) FROM ipam_allocations WHERE key = 'x:allocate:1:allocate:2'").pluck().get(), 1);
  db.close();
});

test.run();
