// Review 8b: README, "Failed starts exit with status 2 (configuration, database locked by another
// process, corrupt or not writable, a port that cannot be bound), with a message naming the cause,
// and leave no file behind". The inspector's port (`--inspect`, inspector.port) is a port too.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';

const test = suite('review8b: an inspector port that cannot be bound');
const dir = mkdtempSync(join(tmpdir(), 'review8b-inspector-'));
let taken: Server;

test.before(async () => {
  taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
});
test.after(() => {
  taken.close();
  rmSync(dir, { recursive: true, force: true });
});

test('REVIEW8 --inspect on a taken inspector.port exits 2 naming inspector.port, and leaves no database behind', () => {
  const port = (taken.address() as AddressInfo).port;
  const data = join(dir, 'data');
  const file = join(dir, 'c.yaml');
  writeFileSync(file, `listen: { port: 0 }\ndatabase: ${join(data, 'l.sqlite')}\ninspector: { port: ${port} }\n`);
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'main.ts', '--config', file, '--inspect'], { encoding: 'utf8', timeout: 30_000 });
  assert.is(r.status, 2, `exit ${r.status}: ${r.stderr.split('\n').slice(0, 3).join(' | ')}`);
  assert.match(r.stderr, 'inspector.port');
  assert.not.match(r.stderr, 'Unhandled', 'a crash, not a refused start');
  let left: string[] = [];
  try {
    left = readdirSync(data);
  } catch {
    // No data directory at all: nothing left behind.
  }
  assert.equal(left, [], 'files left behind');
});

test.run();
