// Review 6: on MySQL/MariaDB the reader groups a user's radreply rows with `toLowerCase()`
// equality (radius-sql.ts `sameUser`), but the server orders and compares usernames by its
// collation, which ignores more than case: trailing spaces (PAD SPACE) and accents (`_ci`
// collations fold é to e). FreeRADIUS's own lookup (`WHERE username = '%{User-Name}'`) there returns
// all such rows for one user; the pages interleave them by id, and the reader then hands out the
// same user several times, split (what reads one FieldReply per username sees part of its rows).
import * as assert from 'uvu/assert';
import type { FieldReply } from '../../services/field/radius.ts';
import { fieldSuites } from '../services/field/radius-databases.ts';

async function all<T>(pages: AsyncGenerator<T[]>): Promise<T[]> {
  const items: T[] = [];
  for await (const page of pages) items.push(...page);
  return items;
}

for (const test of fieldSuites((backend) => `review6: the field reader's users as ${backend} compares usernames`)) {
  test('replies(): each user the database tells apart is one FieldReply, holding every row the database gives that username', async ({ db }) => {
    // Inserted in this order, so that the ids interleave the spellings the collation sorts together.
    db.run(`INSERT INTO radreply (username, attribute, op, value) VALUES
      ('bob', 'Delegated-IPv6-Prefix', ':=', '2001:db8:600::/56'),
      ('bob ', 'Framed-IPv6-Prefix', ':=', '2001:db8:600::/64'),
      ('bob', 'Framed-IPv6-Prefix', ':=', '2001:db8:601::/64'),
      ('rene', 'Delegated-IPv6-Prefix', ':=', '2001:db8:700::/56'),
      ('rené', 'Framed-IPv6-Prefix', ':=', '2001:db8:700::/64'),
      ('rene', 'Framed-IPv6-Prefix', ':=', '2001:db8:701::/64')`);
    for (const pageSize of [1, 2, 1000]) {
      const items = await all<FieldReply>(db.reader().replies({ pageSize }));
      const lower = items.map((r) => r.username.trim().toLowerCase().normalize('NFD').replace(/\p{M}/gu, ''));
      const names = new Set(lower);
      if (db.caseInsensitive) {
        // One user each, as FreeRADIUS's lookup there sees them: no username handed out twice.
        assert.equal(lower.length, names.size, `page size ${pageSize}: ${JSON.stringify(items.map((r) => [r.username, r.rows.length]))}`);
        assert.equal(items.map((r) => r.rows.length), [3, 3], `page size ${pageSize}`);
      } else {
        // One user per spelling: four usernames, none twice.
        assert.equal(new Set(items.map((r) => r.username)).size, items.length, `page size ${pageSize}`);
        assert.equal(items.map((r) => r.rows.length).reduce((a, b) => a + b, 0), 6, `page size ${pageSize}`);
      }
    }
  });

  test.run();
}
