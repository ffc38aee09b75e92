// Review 9 (hostile): a configuration file that does not parse. YAML's and V8's JSON errors quote the
// text around the fault, and that text can be the inline `radius.dynamic_authorization.nas[].secret`
// (README: secrets never reach output). `--check-config` and the start must name the file, the line
// and column (YAML) or the kind of fault (JSON), and never print the file's text.
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';

const test = suite('review9 (hostile): a configuration file that does not parse is reported without its text');
const dir = mkdtempSync(join(tmpdir(), 'review9-config-'));
const run = (args: string[]) =>
  spawnSync(process.execPath, ['--import', 'tsx', 'main.ts', ...args], {
    encoding: 'utf8',
    env: { ...process.env, IPV6_LIFECYCLE_API_TOKEN: 'review9-api-token-0123456789' },
    timeout: 30_000,
  });
const write = (name: string, text: string) => {
  const path = join(dir, name);
  writeFileSync(path, text);
  return path;
};
test.after(() => rmSync(dir, { recursive: true, force: true }));

const SECRET = 'NasSharedSecret-r9';

test('a YAML file broken on the line of an inline NAS secret: exit 2 naming the file and line, the secret nowhere in the output', () => {
  const file = write('broken.yaml', `listen: { port: 0 }\ndatabase: ${join(dir, 'y.sqlite')}\nradius:\n  dynamic_authorization:\n    nas: [{ address: 192.0.2.1, secret: ${SECRET} }\n      - bad\n`);
  for (const args of [['--check-config', '--config', file], ['--config', file]]) {
    const r = run(args);
    assert.is(r.status, 2, args.join(' '));
    assert.match(r.stderr, `configuration file ${file} is not valid YAML`);
    assert.match(r.stderr, /at line 6, column 7/);
    assert.not.match(r.stdout + r.stderr, SECRET.slice(0, 6), `${args.join(' ')} printed the secret`);
  }
});

test('a JSON file with an unquoted secret: exit 2 naming the file and the fault, no part of the secret in the output', () => {
  const file = write('broken.json', `{"listen":{"port":0},"radius":{"dynamic_authorization":{"nas":[{"address":"192.0.2.1","secret":${SECRET}}]}}}`);
  for (const args of [['--check-config', '--config', file], ['--config', file]]) {
    const r = run(args);
    assert.is(r.status, 2, args.join(' '));
    assert.match(r.stderr, `configuration file ${file} is not valid JSON`);
    assert.match(r.stderr, /Unexpected token/);
    assert.not.match(r.stdout + r.stderr, SECRET.slice(0, 6), `${args.join(' ')} printed the secret`);
  }
});

test.run();
