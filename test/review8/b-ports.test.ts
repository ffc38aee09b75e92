// Review 8b: README, "Failed starts exit with status 2 (configuration, database locked by another
// process, corrupt or not writable, a port that cannot be bound), with a message naming the cause,
// and leave no file behind"; "A wrong value stops the start with a message that names the key". A
// listen.host that does not resolve, a taken listen.port or inspector.port (`--inspect`) are wrong
// values the schema cannot see; the refused start should still say which key to fix.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';

const test = suite('review8b: addresses that cannot be bound');
const dir = mkdtempSync(join(tmpdir(), 'review8b-ports-'));
let taken: Server;
test.before(async () => {
  taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
});
test.after(() => {
  taken.close();
  rmSync(dir, { recursive: true, force: true });
});
const takenPort = () => (taken.address() as AddressInfo).port;

const start = (config: string, ...args: string[]) => {
  const file = join(dir, 'c.yaml');
  writeFileSync(file, config);
  return spawnSync(process.execPath, ['--import', 'tsx', 'main.ts', '--config', file, ...args], { encoding: 'utf8', timeout: 30_000 });
};

test('REVIEW8 a listen.host that does not resolve, or a taken listen.port: exit 2, the message names listen.host / listen.port', () => {
  const bad = start(`listen: { host: "no-such-host.invalid", port: 0 }\ndatabase: ${join(dir, 'l.sqlite')}\n`);
  assert.is(bad.status, 2);
  assert.match(bad.stderr, 'listen.host', bad.stderr.trim());
  const busy = start(`listen: { host: 127.0.0.1, port: ${takenPort()} }\ndatabase: ${join(dir, 'l.sqlite')}\n`);
  assert.is(busy.status, 2);
  assert.match(busy.stderr, 'listen.port', busy.stderr.trim());
});

test('REVIEW8 --inspect on a taken inspector.port exits 2 naming inspector.port, and leaves no database behind', () => {
  const data = join(dir, 'data');
  const r = start(`listen: { port: 0 }\ndatabase: ${join(data, 'l.sqlite')}\ninspector: { port: ${takenPort()} }\n`, '--inspect');
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
