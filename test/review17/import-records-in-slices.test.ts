// Review 17 (issue 10): POST /import's body validation was one turn of the event loop, 67 ms for
// 50,000 file records. parseInputInSlices checks the body with the list empty and then the records
// RECORD_SLICE a turn; a client cannot tell: the same value or the same 400, naming the same field.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { fileRecord, importBody, RECORD_SLICE } from '../../http/routes/import.ts';
import { parseInput, parseInputInSlices } from '../../http/validation.ts';
import { countPerTurn } from '../support/event-loop.ts';

const test = suite('review17: file records validated a slice per turn');
const N = 3 * RECORD_SLICE + 5;
const at = { path: ['sources', 'file', 'records'], item: fileRecord, maxItems: 1_000_000, slice: RECORD_SLICE };

const record = (i: number) => ({ subscriber_id: `s-${i}`, prefix: `2001:db8:${i.toString(16)}::/56`, username: `u-${i}@isp`, state: 'active' });
const records = (n: number) => Array.from({ length: n }, (_, i) => record(i));

test(`${N} records: at most RECORD_SLICE read in one turn, and the value parseInput gives`, async () => {
  const t = countPerTurn();
  const counted = records(N).map((r) => {
    const { subscriber_id } = r;
    return Object.defineProperty({ ...r }, 'subscriber_id', { enumerable: true, get: () => (t.count(), subscriber_id) });
  });
  const body = { sources: { file: { records: counted }, radius: { sessions: false } }, options: { batch_size: 50 } };
  const got = await parseInputInSlices(importBody, body, at);
  t.stop();
  assert.ok(Math.max(...t.turns) <= RECORD_SLICE, `${Math.max(...t.turns)} records read in one turn`);
  assert.ok(t.turns.filter((n) => n > 0).length >= 4, `records read in ${t.turns.filter((n) => n > 0).length} turns`);
  assert.equal(got, parseInput(importBody, { ...body, sources: { ...body.sources, file: { records: records(N) } } }, 'body'));
  assert.is(got.sources.file!.records.length, N);
});

const outcome = async (f: () => unknown) => {
  try {
    return { value: await f() };
  } catch (e) {
    const err = e as { code?: string; message: string; field?: string | null };
    return { code: err.code, message: err.message, field: err.field };
  }
};

const late = (over: Record<string, unknown>, drop?: string) => {
  const list: Record<string, unknown>[] = records(N);
  const r: Record<string, unknown> = { ...record(2 * RECORD_SLICE + 3), ...over };
  if (drop) delete r[drop];
  list[2 * RECORD_SLICE + 3] = r;
  return { sources: { file: { records: list } } };
};

const bodies: [string, unknown][] = [
  ['valid', { sources: { file: { records: records(N) } } }],
  ['a late record without subscriber_id', late({}, 'subscriber_id')],
  ['a late record with an unknown key', late({ pool: 'pd' })],
  ['a late record with a tab in its username', late({ username: 'a\tb' })],
  ['a late record with a number for prefix', late({ prefix: 56 })],
  ['a late record that is not an object', (() => {
    const b = late({});
    (b.sources.file.records as unknown[])[7] = 'x';
    return b;
  })()],
  ['a late record with an unknown state', late({ state: 'revoked' })],
  ['no records', { sources: { file: {} } }],
  ['records not a list', { sources: { file: { records: { a: 1 } } } }],
  ['no sources', {}],
  ['records empty', { sources: { file: { records: [] } } }],
  ['a bad option beside good records', { sources: { file: { records: records(10) } }, options: { batch_size: 0 } }],
  ['an unknown source beside good records', { sources: { file: { records: records(10) }, ldap: {} } }],
  ['not an object', [1, 2]],
  // Two issues: the one zod names first (keys in the shape's order, unknown keys after them).
  ['a bad record and a bad option', { ...late({}, 'subscriber_id'), options: { batch_size: 0 } }],
  ['a bad record and an unknown field', { ...late({ prefix: 7 }), extra: 1 }],
  ['a bad record and an unknown source', { sources: { ...late({}, 'prefix').sources, ldap: {} } }],
  ['a bad record and an unknown key of file', { sources: { file: { ...late({ state: 'x' }).sources.file, x: 1 } } }],
  ['a bad netbox rule and a bad record', { sources: { netbox: { subscriber: { tenant: 'nope' } }, ...late({}, 'subscriber_id').sources } }],
  ['a bad radius source and a bad record', { sources: { radius: { sessions: 'yes' }, ...late({ pool: 'x' }).sources } }],
  ['a bad option and good records', { sources: { file: { records: records(N) } }, options: { batch_size: 0 } }],
  ['an unknown field and good records', { sources: { file: { records: records(N) } }, extra: 1 }],
];

for (const [name, body] of bodies) {
  test(`${name}: the answer parseInput gives`, async () => {
    const sliced = await outcome(() => parseInputInSlices(importBody, body, at));
    const whole = await outcome(() => parseInput(importBody, body, 'body'));
    assert.equal(sliced, whole);
    if (name !== 'valid' && name !== 'records empty') assert.is(sliced.code, 'validation_error', JSON.stringify(sliced));
  });
}

test.run();
