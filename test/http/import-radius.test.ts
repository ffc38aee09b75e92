import Database from 'better-sqlite3';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startHarness, type Harness } from './support.ts';

// POST /import as composed: the FreeRADIUS source is the configured radius.sql database, read
// through a connection of its own, and nothing is written to it.

const test = suite('POST /import with the configured FreeRADIUS database');
let h: Harness;
let dir: string;
let radiusDb: string;

test.before.each(async () => {
  dir = mkdtempSync(join(tmpdir(), 'import-radius-'));
  radiusDb = join(dir, 'radius.sqlite');
  h = await startHarness({ dir, config: { radius: { sql: { path: radiusDb, create_schema: true } } } });
});
test.after.each(async () => {
  await h.close();
  rmSync(dir, { recursive: true, force: true });
});

test('radreply rows make prefixes active under the file\'s subscriber ids; radreply and radacct stay as they were', async () => {
  const db = new Database(radiusDb);
  try {
    const reply = db.prepare("INSERT INTO radreply (username, attribute, op, value) VALUES (?, 'Delegated-IPv6-Prefix', ':=', ?)");
    reply.run('u-1', '2001:db8:0:100::/56');
    reply.run('u-2', '2001:db8:0:200::/56');
    const dump = () => JSON.stringify([db.prepare('SELECT * FROM radreply ORDER BY id').all(), db.prepare('SELECT * FROM radacct').all()]);
    const before = dump();
    const body = {
      sources: { radius: {}, file: { records: [{ subscriber_id: 'C-1', prefix: '2001:db8:0:100::/56', username: 'u-1' }] } },
      options: { subscriber_from_username: true },
    };
    const res = await h.post('import?dry_run=false', body);
    assert.is(res.status, 200, res.text);
    assert.equal(res.body.entries.map((e: any) => [e.subscriber_id, e.prefix, e.username, e.state, e.sources, e.action]), [
      ['C-1', '2001:db8:0:100::/56', 'u-1', 'active', ['file', 'radreply'], 'adopt'],
      ['u-2', '2001:db8:0:200::/56', 'u-2', 'active', ['radreply'], 'adopt'],
    ]);
    assert.equal(res.body.applied, { adopted: 2, failed: [] });
    const c1 = await h.get('/api/v1/network/ipv6/lifecycle/C-1');
    assert.equal([c1.body.state, c1.body.username], ['active', 'u-1']);
    assert.is(dump(), before, 'RADIUS untouched');
  } finally {
    db.close();
  }
});

test.run();
