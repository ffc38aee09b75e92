import Database from 'better-sqlite3';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createRadiusFieldReader, type FieldReply, type FieldSession } from '../../../services/field/radius.ts';
import { peerAvailable } from '../../support/freeradius.ts';

// FreeRADIUS's own schema.sql, as rlm_sql_sqlite creates it.
const SCHEMA = '/etc/freeradius/3.0/mods-config/sql/main/sqlite/schema.sql';

function freshDb(schema: string | null = SCHEMA) {
  const dir = mkdtempSync(path.join(tmpdir(), 'field-radius-'));
  const db = new Database(path.join(dir, 'radius.sqlite'));
  db.exec(schema ? readFileSync(schema, 'utf8') : 'CREATE TABLE radreply (id INTEGER PRIMARY KEY, username TEXT, attribute TEXT, op TEXT, value TEXT)');
  const reply = db.prepare('INSERT INTO radreply (username, attribute, op, value) VALUES (?, ?, ?, ?)');
  return { db, dir, reply: (u: string, a: string, v: string, op = ':=') => reply.run(u, a, op, v), done: () => rmSync(dir, { recursive: true, force: true }) };
}

async function all<T>(pages: AsyncGenerator<T[]>): Promise<{ items: T[]; pages: number }> {
  const items: T[] = [];
  let n = 0;
  for await (const page of pages) {
    n++;
    items.push(...page);
  }
  return { items, pages: n };
}

if (peerAvailable('field readers: FreeRADIUS SQL')) {
  const test = suite('field readers: FreeRADIUS SQL');

  test('replies(): every user with a prefix attribute, whole, in username order, whatever the page size', async () => {
    const f = freshDb();
    f.reply('carol', 'Delegated-IPv6-Prefix', '2001:db8:300::/56');
    f.reply('alice', 'Delegated-IPv6-Prefix', '2001:db8:100::/56');
    f.reply('alice', 'Framed-IPv6-Prefix', '2001:db8:100::/64');
    f.reply('alice', 'Reply-Message', 'hello'); // not ours: never read
    f.reply('bob', 'Session-Timeout', '3600');
    f.reply('dave', 'Framed-IPv6-Prefix', '2001:db8:400::/64');
    f.reply('alice', 'Delegated-IPv6-Prefix', '2001:db8:999::/56', '='); // a duplicate an old tool left
    const reader = createRadiusFieldReader(f.db);
    for (const pageSize of [1, 2, 3, 1000]) {
      const { items } = await all<FieldReply>(reader.replies({ pageSize }));
      assert.equal(items.map((r) => r.username), ['alice', 'carol', 'dave'], `page size ${pageSize}`);
      const alice = items[0]!;
      assert.equal(alice.rows.map((r) => [r.attribute, r.op, r.value]), [
        ['Delegated-IPv6-Prefix', ':=', '2001:db8:100::/56'],
        ['Framed-IPv6-Prefix', ':=', '2001:db8:100::/64'],
        ['Delegated-IPv6-Prefix', '=', '2001:db8:999::/56'],
      ]);
      assert.is(alice.delegatedPrefix, '2001:db8:100::/56');
      assert.is(alice.framedPrefix, '2001:db8:100::/64');
      assert.is(items[2]!.delegatedPrefix, null);
    }
    assert.equal([...reader.repliesOf(['carol', 'bob', 'nobody']).keys()], ['carol']);
    reader.close();
    f.done();
  });

  test('replies() reads page by page: 2,500 users in pages of 1,000 rows is three queries, never all at once', async () => {
    const f = freshDb();
    f.db.transaction(() => {
      for (let i = 0; i < 2500; i++) f.reply(`u${String(i).padStart(5, '0')}`, 'Delegated-IPv6-Prefix', `2001:db8:${i.toString(16)}::/56`);
    })();
    const reader = createRadiusFieldReader(f.db);
    const { items, pages } = await all(reader.replies({ pageSize: 1000 }));
    assert.is(items.length, 2500);
    assert.is(new Set(items.map((r) => r.username)).size, 2500);
    assert.is(pages, 3);
    reader.close();
    f.done();
  });

  test('openSessions(): only rows without acctstoptime, with the prefix columns and the last update', async () => {
    const f = freshDb();
    const acct = f.db.prepare(
      `INSERT INTO radacct (acctsessionid, acctuniqueid, username, nasipaddress, acctstarttime, acctupdatetime, acctstoptime, framedipv6prefix, delegatedipv6prefix)
       VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
    );
    acct.run('s1', 'u1', 'alice', '192.0.2.1 ', '2026-01-01 00:00:00', '2026-01-01 01:00:00', null, '2001:db8:100::/64', '2001:db8:100::/56');
    acct.run('s2', 'u2', 'bob', '192.0.2.1', '2026-01-01 00:00:00', null, '2026-01-01 02:00:00', '', '2001:db8:200::/56');
    acct.run('s3', 'u3', 'carol', '192.0.2.2', '2026-01-01 00:00:00', null, null, '', '');
    const reader = createRadiusFieldReader(f.db);
    const { items, pages } = await all<FieldSession>(reader.openSessions({ pageSize: 1 }));
    assert.is(pages, 2);
    assert.equal(
      items.map((s) => [s.username, s.nasIpAddress, s.acctSessionId, s.delegatedIpv6Prefix, s.framedIpv6Prefix, s.updatedAt]),
      [
        ['alice', '192.0.2.1', 's1', '2001:db8:100::/56', '2001:db8:100::/64', '2026-01-01 01:00:00'],
        ['carol', '192.0.2.2', 's3', null, null, '2026-01-01 00:00:00'],
      ],
    );
    reader.close();
    f.done();
  });

  test('openSessions() on a schema without the IPv6 columns reads the sessions with null prefixes', async () => {
    const f = freshDb(null);
    f.db.exec(`CREATE TABLE radacct (radacctid INTEGER PRIMARY KEY, acctsessionid TEXT, acctuniqueid TEXT, username TEXT, nasipaddress TEXT, acctstarttime TEXT, acctstoptime TEXT)`);
    f.db.prepare(`INSERT INTO radacct (acctsessionid, acctuniqueid, username, nasipaddress, acctstarttime) VALUES ('s', 'u', 'old', '192.0.2.9', '2020-01-01')`).run();
    const reader = createRadiusFieldReader(f.db);
    const { items } = await all<FieldSession>(reader.openSessions());
    assert.equal(items.map((s) => [s.username, s.delegatedIpv6Prefix, s.framedIpv6Prefix, s.updatedAt]), [['old', null, null, '2020-01-01']]);
    reader.close();
    f.done();
  });

  test.run();
}
