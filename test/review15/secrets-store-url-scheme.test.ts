// Review 15: store.url_env holding something that is not a postgres:// URL. The refusal named the
// value's scheme, and a password set there by mistake ("pass:word", a key=value DSN with a colon)
// parses as a URL whose scheme is the head of the password: --check-config printed it (lowercased).
// A scheme is named only when it is a known one (mysql://, http://, …), else only "not postgres://".
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';

const test = suite('review15: a store URL that is not postgres:// is refused without quoting it');
const dir = mkdtempSync(join(tmpdir(), 'review15-store-url-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));
const file = join(dir, 'store.yaml');
writeFileSync(file, `listen: { port: 0 }\ndatabase: ${join(dir, 'y.sqlite')}\nstore: { backend: postgresql }\n`);
const checkConfig = (url: string) =>
  spawnSync(process.execPath, ['--import', 'tsx', 'main.ts', '--check-config', '--config', file], {
    encoding: 'utf8',
    env: { ...process.env, IPV6_LIFECYCLE_API_TOKEN: 'review15-api-token-0123456789', IPV6_LIFECYCLE_DATABASE_URL: url },
    timeout: 30_000,
  });

test('a password with a colon in store.url_env: exit 2, no part of it in the output', () => {
  const r = checkConfig('R15headOfPassword:and-the-rest');
  assert.is(r.status, 2, r.stdout + r.stderr);
  assert.match(r.stderr, /IPV6_LIFECYCLE_DATABASE_URL holds a value that is not a postgres:\/\/ URL/);
  assert.not.match((r.stdout + r.stderr).toLowerCase(), 'r15head', 'the head of the password was printed');
});

test('a mysql:// URL in store.url_env: exit 2 naming the scheme, not the URL', () => {
  const r = checkConfig('mysql://radius:R15pw@127.0.0.1/radius');
  assert.is(r.status, 2, r.stdout + r.stderr);
  assert.match(r.stderr, /holds a mysql:\/\/ URL/);
  assert.not.match(r.stdout + r.stderr, 'R15pw');
});

test.run();
