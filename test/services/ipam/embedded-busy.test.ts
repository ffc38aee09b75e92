import Database from 'better-sqlite3';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { withRetry } from '../../../runtime/retry.ts';
import { ServiceError } from '../../../services/errors.ts';
import { createEmbeddedIpam } from '../../../services/ipam/embedded.ts';
import { BUSY_TIMEOUT_MS } from '../../../store/db.ts';
import { allocate, scratchDb } from './embedded-support.ts';

// Another connection (an operator's `sqlite3` shell, a backup) holding the write lock longer than the
// busy timeout: the embedded IPAM's write fails, and the step must retry it, not go `failed`.
const test = suite('embedded ipam under an outside write lock');
const s = scratchDb(test);
const pools = [{ name: 'p', prefix: '2001:db8::/48', prefixLength: 56, holdDownS: 0 }];

/** Holds BEGIN IMMEDIATE on the file from a second connection until release(). */
function outsideLock(file: string) {
  const other = new Database(file);
  other.exec('BEGIN IMMEDIATE');
  return {
    release() {
      other.exec('COMMIT');
      other.close();
    },
  };
}

test('every write while the lock is held fails with a retryable unavailable ServiceError', async () => {
  const ipam = createEmbeddedIpam(s.db(), pools);
  const held = await allocate(ipam, 'held', 'p', 56);
  const lock = outsideLock(s.file());
  try {
    const cmd = { lifecycleId: 'lc-held', subscriberId: 'sub-held', pool: 'p', prefix: held.prefix, netboxPrefixId: null };
    for (const [what, call] of [
      ['allocate', () => allocate(ipam, 'x', 'p', 56)],
      ['release', () => ipam.release(cmd)],
      ['free', () => ipam.free(cmd)],
    ] as const) {
      const err = await call().then(() => null, (e: unknown) => e);
      assert.instance(err, ServiceError, `${what}: ${String(err)}`);
      const e = err as ServiceError;
      assert.equal([e.code, e.retryable], ['unavailable', true], `${what}: ${e.code} ${e.message}`);
      assert.match(e.message, /locked|busy/i);
    }
  } finally {
    lock.release();
  }
});

test('an allocation retried by the step policy succeeds once a lock held longer than the busy timeout is let go', async () => {
  const ipam = createEmbeddedIpam(s.db(), pools);
  const lock = outsideLock(s.file());
  const holdMs = BUSY_TIMEOUT_MS * 4;
  setTimeout(() => lock.release(), holdMs);
  const started = Date.now();
  let failures = 0;
  const got = await withRetry(() => allocate(ipam, 'a', 'p', 56), { attempts: 20, baseMs: 20, maxMs: 100, retryAfterMaxMs: 1000 }, {
    onRetry: () => void failures++,
  });
  assert.is(got.prefix, '2001:db8::/56');
  assert.ok(failures >= 1, 'the lock was held during the first attempt');
  assert.ok(Date.now() - started >= holdMs - 5, 'it succeeded only once the lock was let go');
});

test.run();
