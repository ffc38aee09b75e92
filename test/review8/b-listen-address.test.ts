// Review 8b: README, "Configuration reference": "A wrong value stops the start with a message that
// names the key". A listen.host that does not resolve, or a listen.port already taken, is a wrong
// value the schema cannot see; the refused start should still say which key to fix.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type AddressInfo, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';

const test = suite('review8b: a listen address that cannot be bound');
const dir = mkdtempSync(join(tmpdir(), 'review8b-listen-'));
let taken: Server;
test.before(async () => {
  taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
});
test.after(() => {
  taken.close();
  rmSync(dir, { recursive: true, force: true });
});

const start = (listen: string) => {
  const file = join(dir, 'c.yaml');
  writeFileSync(file, `listen: ${listen}\ndatabase: ${join(dir, 'l.sqlite')}\n`);
  return spawnSync(process.execPath, ['--import', 'tsx', 'main.ts', '--config', file], { encoding: 'utf8', timeout: 30_000 });
};

test('REVIEW8 a listen.host that does not resolve, or a taken listen.port: exit 2, the message names listen.host / listen.port', () => {
  const bad = start('{ host: "no-such-host.invalid", port: 0 }');
  assert.is(bad.status, 2);
  assert.match(bad.stderr, 'listen.host', bad.stderr.trim());
  const busy = start(`{ host: 127.0.0.1, port: ${(taken.address() as AddressInfo).port} }`);
  assert.is(busy.status, 2);
  assert.match(busy.stderr, 'listen.port', busy.stderr.trim());
});

test.run();
