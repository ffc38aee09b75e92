// Review 6 (held): FreeRADIUS's PostgreSQL drops the field reader's connection in the middle of a
// walk (a failover, pg_terminate_backend). The walk must end, whole or with a retryable
// upstream_unavailable, never hang or crash the process, and the same reader (the reconciliation
// keeps one for the life of the service) must read the whole of radreply on its next walk.
import * as assert from 'uvu/assert';
import type { FieldReply } from '../../services/field/radius.ts';
import { ServiceError } from '../../services/errors.ts';
import { fieldSuites } from '../services/field/radius-databases.ts';

for (const test of fieldSuites(() => 'review6: the field reader on PostgreSQL when its connection is dropped mid-walk', ['PostgreSQL'])) {
  test('a walk whose connection is killed between pages ends (whole, or a retryable error), and the next walk on the same reader is whole', async ({ db }) => {
    const users = Array.from({ length: 5 }, (_, i) => `u${i}`);
    db.run(`INSERT INTO radreply (username, attribute, op, value) VALUES ${users.map((u, i) => `('${u}', 'Delegated-IPv6-Prefix', ':=', '2001:db8:${i}::/56')`).join(', ')}`);
    const reader = db.reader();
    try {
      const seen: string[] = [];
      let failure: unknown = null;
      try {
        let pages = 0;
        for await (const page of reader.replies({ pageSize: 2 })) {
          seen.push(...page.map((r) => r.username));
          if (++pages === 1) db.run('SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()');
        }
      } catch (err) {
        failure = err;
      }
      if (failure) {
        assert.ok(failure instanceof ServiceError, String(failure));
        assert.is(failure.code, 'upstream_unavailable');
        assert.is(failure.retryable, true, 'a dropped connection is worth another walk');
      } else {
        assert.equal(seen, users, 'a walk that went on is whole, each user once');
      }
      const again: FieldReply[] = [];
      for await (const page of reader.replies({ pageSize: 2 })) again.push(...page);
      assert.equal(again.map((r) => r.username), users);
    } finally {
      await reader.close();
    }
  });

  test.run();
}
