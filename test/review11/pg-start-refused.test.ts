// A start on PostgreSQL that fails after the store opened (a taken listen.port, found by the CI's
// three-instance test when another test took its free port first) must say why, as on SQLite. The
// refused start closed the store twice (the run's stop, then the discard), and pg's "Called end on
// pool more than once" replaced the cause: `ipv6-lifecycle failed to start: Called end on pool more
// than once`, exit 2, nothing naming listen.port.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { postgresAvailable, startPostgres, type PgCluster } from '../support/postgres.ts';

const test = suite('review11: a refused start on PostgreSQL names its cause');
const dir = mkdtempSync(join(tmpdir(), 'review11-pg-start-'));
let pg: PgCluster | null = null;
let taken: Server;
test.before(async () => {
  taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  if (postgresAvailable('a refused start on PostgreSQL')) pg = await startPostgres();
});
test.after(async () => {
  taken.close();
  await pg?.stop();
  rmSync(dir, { recursive: true, force: true });
});

test('a taken listen.port with store.backend postgresql: exit 2 naming listen.port, not the pool closed twice', async () => {
  if (!pg) return;
  const url = await pg.createDatabase('refused');
  const file = join(dir, 'c.yaml');
  writeFileSync(file, `listen: { host: 127.0.0.1, port: ${(taken.address() as AddressInfo).port} }\nstore: { backend: postgresql }\n`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'main.ts', '--config', file], {
    encoding: 'utf8',
    timeout: 30_000,
    env: { ...process.env, IPV6_LIFECYCLE_DATABASE_URL: url, IPV6_LIFECYCLE_API_TOKEN: 'review11-pg-start-token-0123456789' },
  });
  assert.is(r.status, 2, r.stderr);
  assert.match(r.stderr, /listen\.host\/listen\.port 127\.0\.0\.1:\d+ cannot be bound/);
  assert.not.match(r.stderr, 'more than once');
});

test.run();
