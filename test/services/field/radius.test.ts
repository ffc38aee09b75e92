// The FreeRADIUS field reader's contract, the same cases on SQLite, PostgreSQL and MariaDB: whole
// users in username order whatever the page size, keyset pages (never all at once), only open
// sessions, PostgreSQL's inet and MySQL's '' read alike, times in one format, older schemas.
import { suite } from 'uvu';
import pino from 'pino';
import * as assert from 'uvu/assert';
import type { FieldReply, FieldSession } from '../../../services/field/radius.ts';
import { sqlTime } from '../../../services/field/radius-sql.ts';
import { fieldSuites } from './radius-databases.ts';

async function all<T>(pages: AsyncGenerator<T[]>): Promise<{ items: T[]; pages: number }> {
  const items: T[] = [];
  let n = 0;
  for await (const page of pages) {
    n++;
    items.push(...page);
  }
  return { items, pages: n };
}

const replyValues = (rows: [string, string, string, string?][]) =>
  rows.map(([u, a, v, op = ':=']) => `('${u}', '${a}', '${op}', '${v}')`).join(', ');

for (const test of fieldSuites((backend) => `field readers: FreeRADIUS SQL on ${backend}`)) {
  test('replies(): every user with a prefix attribute, whole, in username order, whatever the page size', async ({ db }) => {
    db.run(`INSERT INTO radreply (username, attribute, op, value) VALUES ${replyValues([
      ['carol', 'Delegated-IPv6-Prefix', '2001:db8:300::/56'],
      ['alice', 'Delegated-IPv6-Prefix', '2001:db8:100::/56'],
      ['alice', 'Framed-IPv6-Prefix', '2001:db8:100::/64'],
      ['alice', 'Reply-Message', 'hello'], // not ours: never read
      ['bob', 'Session-Timeout', '3600'],
      ['dave', 'Framed-IPv6-Prefix', '2001:db8:400::/64'],
      ['alice', 'Delegated-IPv6-Prefix', '2001:db8:999::/56', '='], // a duplicate an old tool left
    ])}`);
    const reader = db.reader();
    for (const pageSize of [1, 2, 3, 1000]) {
      const { items } = await all<FieldReply>(reader.replies({ pageSize }));
      assert.equal(items.map((r) => r.username), ['alice', 'carol', 'dave'], `page size ${pageSize}`);
      const alice = items[0]!;
      assert.equal(alice.rows.map((r) => [r.attribute, r.op, r.value]), [
        ['Delegated-IPv6-Prefix', ':=', '2001:db8:100::/56'],
        ['Framed-IPv6-Prefix', ':=', '2001:db8:100::/64'],
        ['Delegated-IPv6-Prefix', '=', '2001:db8:999::/56'],
      ]);
      assert.ok(alice.rows.every((r) => typeof r.id === 'number' && r.id > 0), 'ids are numbers');
      assert.is(alice.delegatedPrefix, '2001:db8:100::/56');
      assert.is(alice.framedPrefix, '2001:db8:100::/64');
      assert.is(items[2]!.delegatedPrefix, null);
    }
    const some = await reader.repliesOf(['carol', 'bob', 'nobody']);
    assert.equal([...some.keys()], ['carol']);
    assert.is(some.get('carol')!.delegatedPrefix, '2001:db8:300::/56');
  });

  test('replies(): one username in several cases is one user where the schema ignores case (MySQL), one user per spelling elsewhere', async ({ db }) => {
    db.run(`INSERT INTO radreply (username, attribute, op, value) VALUES ${replyValues([
      ['Erin', 'Delegated-IPv6-Prefix', '2001:db8:500::/56'],
      ['erin', 'Framed-IPv6-Prefix', '2001:db8:500::/64'],
      ['ERIN', 'Delegated-IPv6-Prefix', '2001:db8:501::/56'],
    ])}`);
    for (const pageSize of [1, 2, 1000]) {
      const { items } = await all<FieldReply>(db.reader().replies({ pageSize }));
      if (db.caseInsensitive) {
        assert.equal(items.map((r) => [r.username, r.rows.length, r.delegatedPrefix, r.framedPrefix]), [['Erin', 3, '2001:db8:500::/56', '2001:db8:500::/64']], `page size ${pageSize}`);
      } else {
        assert.equal(items.map((r) => [r.username, r.rows.length]).sort(), [['ERIN', 1], ['Erin', 1], ['erin', 1]], `page size ${pageSize}`);
      }
    }
  });

  test('replies() reads page by page: 2,500 users in pages of 1,000 rows is three queries, never all at once', async ({ db }) => {
    for (let from = 0; from < 2500; from += 500) {
      const rows: [string, string, string][] = [];
      for (let i = from; i < from + 500; i++) rows.push([`u${String(i).padStart(5, '0')}`, 'Delegated-IPv6-Prefix', `2001:db8:${i.toString(16)}::/56`]);
      db.run(`INSERT INTO radreply (username, attribute, op, value) VALUES ${replyValues(rows)}`);
    }
    const { items, pages } = await all(db.reader().replies({ pageSize: 1000 }));
    assert.is(items.length, 2500);
    assert.is(new Set(items.map((r) => r.username)).size, 2500);
    assert.is(pages, 3);
  });

  test('a radreply the pages cannot walk in order (MySQL\'s stock username(32)) is named in one warn line; an index on (username, id) silences it', async ({ db }) => {
    db.run(`INSERT INTO radreply (username, attribute, op, value) VALUES ${replyValues([['alice', 'Delegated-IPv6-Prefix', '2001:db8:100::/56']])}`);
    const warnings = async () => {
      const lines: { msg: string; index?: string }[] = [];
      const reader = db.reader(pino({ level: 'warn' }, { write: (l: string) => void lines.push(JSON.parse(l)) }));
      for (let i = 0; i < 2; i++) assert.is((await all(reader.replies({ pageSize: 1 }))).items.length, 1);
      return lines.filter((l) => /radreply has no full index on username/.test(l.msg));
    };
    const stock = await warnings();
    assert.is(stock.length, db.stockIndexOrders ? 0 : 1, 'once per reader, and only where the stock index cannot order');
    if (!db.stockIndexOrders) assert.is(stock[0]!.index, 'CREATE INDEX radreply_username_id ON radreply (username, id)');
    db.run('CREATE INDEX radreply_username_id ON radreply (username, id)');
    assert.is((await warnings()).length, 0);
  });

  test('openSessions(): only rows without acctstoptime, with the prefix columns and the last update, times in UTC', async ({ db }) => {
    db.farTimeZone();
    const t = (utc: string | null) => (utc === null ? 'NULL' : db.time(utc));
    const acct = (sid: string, user: string, nas: string, start: string, update: string | null, stop: string | null, framed: string, delegated: string) =>
      db.run(`INSERT INTO radacct (acctsessionid, acctuniqueid, username, nasipaddress, acctstarttime, acctupdatetime, acctstoptime, framedipv6prefix, delegatedipv6prefix)
              VALUES ('${sid}', 'u-${sid}', '${user}', '${nas}', ${t(start)}, ${t(update)}, ${t(stop)}, ${framed}, ${delegated})`);
    acct('s1', 'alice', db.textNas ? '192.0.2.1 ' : '192.0.2.1', '2026-01-01 00:00:00', '2026-01-01 01:00:00', null, "'2001:db8:100::/64'", "'2001:db8:100::/56'");
    acct('s2', 'bob', '192.0.2.1', '2026-01-01 00:00:00', null, '2026-01-01 02:00:00', db.none, "'2001:db8:200::/56'");
    acct('s3', 'carol', '192.0.2.2', '2026-01-01 00:00:00', null, null, db.none, db.none);
    const { items, pages } = await all<FieldSession>(db.reader().openSessions({ pageSize: 1 }));
    assert.is(pages, 2);
    assert.equal(
      items.map((s) => [s.username, s.nasIpAddress, s.acctSessionId, s.acctUniqueId, s.delegatedIpv6Prefix, s.framedIpv6Prefix, s.startedAt, s.updatedAt]),
      [
        ['alice', '192.0.2.1', 's1', 'u-s1', '2001:db8:100::/56', '2001:db8:100::/64', '2026-01-01 00:00:00', '2026-01-01 01:00:00'],
        ['carol', '192.0.2.2', 's3', 'u-s3', null, null, '2026-01-01 00:00:00', '2026-01-01 00:00:00'],
      ],
    );
    assert.ok(items.every((s) => typeof s.radacctId === 'number' && s.radacctId > 0), 'radacctid is a number (PostgreSQL sends bigint as text)');
    assert.ok(items[0]!.radacctId < items[1]!.radacctId);
  });

  test('openSessions() on a schema without the IPv6 columns reads the sessions with null prefixes', async ({ db }) => {
    db.legacyRadacct();
    db.run(`INSERT INTO radacct (acctsessionid, acctuniqueid, username, nasipaddress, acctstarttime) VALUES ('s', 'u', 'old', '192.0.2.9', ${db.time('2020-01-01 00:00:00')})`);
    const { items } = await all<FieldSession>(db.reader().openSessions());
    assert.equal(items.map((s) => [s.username, s.delegatedIpv6Prefix, s.framedIpv6Prefix, s.updatedAt]), [['old', null, null, '2020-01-01 00:00:00']]);
  });

  test.run();
}

const unit = suite('field readers: server times');
unit('sqlTime(): an epoch (a number, or numeric text from PostgreSQL) as UTC text; none or a zero date as null', () => {
  assert.is(sqlTime(1767229200), '2026-01-01 01:00:00');
  assert.is(sqlTime('1767229200.250000'), '2026-01-01 01:00:00');
  assert.is(sqlTime(null), null);
  assert.is(sqlTime(0), null);
});
unit.run();
