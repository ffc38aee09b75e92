// A test that cannot run because a tool is missing must say so loudly, and fail under CI=true.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { toolAvailable } from './tools.ts';

const test = suite('test/support/tools');
const missing = 'no-such-tool-ipv6-lifecycle';

test('toolAvailable(missing) under CI=true → throws naming the test and the install command', () => {
  assert.throws(() => toolAvailable('the lint', missing, 'apt-get install it', { env: { CI: 'true' } }), /the lint: `no-such-tool-ipv6-lifecycle` is not installed and CI=true; apt-get install it/);
});

test('toolAvailable(missing) elsewhere → false, with a banner that says SKIPPED and how to install', () => {
  const warned: string[] = [];
  const warn = console.warn;
  console.warn = (...args: unknown[]) => void warned.push(args.join(' '));
  try {
    assert.is(toolAvailable('the lint', missing, 'apt-get install it', { env: {} }), false);
  } finally {
    console.warn = warn;
  }
  assert.match(warned.join('\n'), /!! SKIPPED the lint: `no-such-tool-ipv6-lifecycle` is not installed/);
  assert.match(warned.join('\n'), 'FAILS when CI=true');
  assert.is(toolAvailable('node itself', process.execPath, 'n/a', { env: { CI: 'true' } }), true);
});

test('no test is skipped silently: nothing under test/ calls .skip (use toolAvailable or peerAvailable)', () => {
  const files = (dir: string): string[] =>
    readdirSync(dir, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? files(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []));
  const skipping = files('test').filter((f) => /\btest\.skip\b|\.skip\(/.test(readFileSync(f, 'utf8').replace(/\/\/.*$/gm, '')) && !f.endsWith('tools.test.ts'));
  assert.equal(skipping, []);
});

test.run();
