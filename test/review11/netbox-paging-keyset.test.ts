// Walks over NetBox prefix lists while another tool changes the table: keyset paging by id neither
// skips nor repeats a prefix; a NetBox that ignores `ordering`/`id__gt` is detected and paged by offset.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startHarness, type Harness } from '../support/netbox-harness.ts';

const test = suite('NetBox list walks under concurrent change');
const SEEDED = 1200; // more than one page of 1000

/** The /56 block `i` of 2001:db8::/40. */
const block = (i: number) => `2001:db8:${(i >> 8).toString(16)}:${((i & 0xff) << 8).toString(16)}::/56`;

async function seeded(): Promise<Harness & { parentId: number }> {
  let parentId = 0;
  const h = await startHarness({
    pools: (s) => {
      parentId = s.addPrefix({ prefix: '2001:db8::/40', status: 'container' }).id;
      return [{ name: 'pd', prefixLength: 56, netbox: { parent_id: parentId } }];
    },
  });
  // Blocks 10.. in address order, so NetBox's default ordering (by prefix) matches the ids.
  for (let i = 10; i < 10 + SEEDED; i++) h.server.addPrefix({ prefix: block(i), tags: ['ipv6-lifecycle'] });
  return { ...h, parentId };
}

/** Runs `change` once, just before the second list page of the walk is read. */
function midWalk(h: Harness, change: () => void): void {
  let lists = 0;
  h.server.onList = () => {
    if (++lists === 2) change();
  };
}

const children = (h: Harness & { parentId: number }) =>
  h.server.prefixes().filter((p) => p.id !== h.parentId).map((p) => p.id).sort((a, b) => a - b);

test('a prefix created before the walk position mid-walk is seen once, and nothing is repeated', async () => {
  const h = await seeded();
  try {
    midWalk(h, () => h.server.addPrefix({ prefix: block(0) }));
    const ids = (await h.ipam.fieldPrefixes()).map((p) => p.netboxPrefixId);
    assert.is(ids.length, new Set(ids).size, 'no prefix listed twice');
    assert.equal([...ids].sort((a, b) => a - b), children(h), 'every prefix, the new one included');
    const lists = h.server.requests.filter((r) => r.method === 'GET' && r.path === '/api/ipam/prefixes/');
    assert.ok(lists.every((r) => r.query.includes('ordering=id') && !r.query.includes('offset=')), lists.map((r) => r.query).join('\n'));
    midWalk(h, () => h.server.addPrefix({ prefix: block(1) }));
    const [pool] = await h.ipam.utilization();
    assert.is(pool?.allocated, SEEDED + 2, 'the pool figure counts the prefix created mid-walk');
  } finally {
    await h.close();
  }
});

test('a prefix deleted before the walk position mid-walk does not make the walk skip another', async () => {
  const h = await seeded();
  try {
    const first = h.server.prefixes().find((p) => p.prefix === block(10))!;
    midWalk(h, () => h.server.table.rows.delete(first.id));
    const ids = (await h.ipam.fieldPrefixes()).map((p) => p.netboxPrefixId);
    assert.is(ids.length, new Set(ids).size, 'no prefix listed twice');
    const missing = children(h).filter((id) => !ids.includes(id));
    assert.equal(missing, [], 'every prefix that existed throughout the walk is listed');
  } finally {
    await h.close();
  }
});

test('a NetBox ignoring ordering and id__gt: detected, paged by offset, warned about once', async () => {
  const h = await seeded();
  try {
    h.server.table.legacy = true;
    const ids = (await h.ipam.fieldPrefixes()).map((p) => p.netboxPrefixId);
    assert.equal([...ids].sort((a, b) => a - b), children(h), 'every prefix exactly once');
    const seen = h.server.requests.length;
    const [pool] = await h.ipam.utilization();
    assert.is(pool?.allocated, SEEDED);
    const later = h.server.requests.slice(seen).filter((r) => r.path === '/api/ipam/prefixes/');
    assert.is(later.length, 2, 'the next walk pages by offset straight away: two pages');
    assert.ok(later.every((r) => r.query.includes('offset=') && !r.query.includes('id__gt')), later.map((r) => r.query).join('\n'));
    const warned = h.logs.map((l) => JSON.parse(l)).filter((l) => l.level === 40 && /ordering=id/.test(l.msg));
    assert.is(warned.length, 1, h.logs.join(''));
  } finally {
    await h.close();
  }
});

test('the stand-in honours ordering=id and id__gt unless legacy, as NetBox ignores unknown parameters', async () => {
  const h = await seeded();
  try {
    const q = new URLSearchParams({ ordering: '-id', id__gt: '1199' });
    assert.equal(h.server.table.filter(q).map((p) => p.id), [1201, 1200]);
    h.server.table.legacy = true;
    assert.is(h.server.table.filter(q).length, SEEDED + 1, 'both ignored: every row');
    assert.is(h.server.table.filter(q)[0]?.prefix, '2001:db8::/40', 'default ordering');
  } finally {
    await h.close();
  }
});

test.run();
