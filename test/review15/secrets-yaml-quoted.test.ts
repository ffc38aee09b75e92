// Review 15: YAML's messages that quote the text at fault. An inline NAS secret written unquoted
// and starting with `*` (an alias), `|` (a block scalar header) or holding `\u` in double quotes is
// a syntax error whose message ended with the secret ("Unresolved alias …: <secret>", "Block scalar
// header includes extra characters: |<secret>", "Invalid escape sequence \uXYZW"). --check-config and
// the start must say the kind of fault and where, never what is written there (config-text.ts).
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';

const test = suite('review15: a YAML fault on an inline secret is reported without the secret');
const dir = mkdtempSync(join(tmpdir(), 'review15-yaml-'));
test.after(() => rmSync(dir, { recursive: true, force: true }));
const run = (args: string[]) =>
  spawnSync(process.execPath, ['--import', 'tsx', 'main.ts', ...args], {
    encoding: 'utf8',
    env: { ...process.env, IPV6_LIFECYCLE_API_TOKEN: 'review15-api-token-0123456789' },
    timeout: 30_000,
  });

const cases: [what: string, value: string, kind: RegExp][] = [
  ['an alias', '*R15aliasNasSecret', /Unresolved alias/],
  ['a block scalar header', '|R15blockNasSecret', /Block scalar header includes extra characters at line 7/],
  ['an escape in double quotes', '"\\uR15Z-escapeNasSecret"', /Invalid escape sequence at line 7/],
];

for (const [what, value, kind] of cases) {
  test(`an inline NAS secret read as ${what}: exit 2 naming the fault, no part of the secret in the output`, () => {
    const file = join(dir, `${what.replace(/\W/g, '-')}.yaml`);
    writeFileSync(file, `listen: { port: 0 }\ndatabase: ${join(dir, 'y.sqlite')}\nradius:\n  dynamic_authorization:\n    nas:\n      - address: 192.0.2.1\n        secret: ${value}\n`);
    for (const args of [['--check-config', '--config', file], ['--config', file]]) {
      const r = run(args);
      assert.is(r.status, 2, args.join(' '));
      assert.match(r.stderr, `configuration file ${file} is not valid YAML`);
      assert.match(r.stderr, kind);
      assert.not.match(r.stdout + r.stderr, 'R15', `${args.join(' ')} printed the secret`);
    }
  });
}

test.run();
