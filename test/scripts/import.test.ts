import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { HELP, parseRule, readRecords } from '../../scripts/import.ts';
import { toCsv } from '../../services/adoption/report.ts';
import type { ImportReport } from '../../services/adoption/types.ts';

const test = suite('npm run import');

test('--netbox rules parse to the route\'s rules; a bad one is refused by name', () => {
  assert.equal(parseRule('custom_field:subscriber_id'), { custom_field: 'subscriber_id' });
  assert.equal(parseRule('tenant'), { tenant: 'name' });
  assert.equal(parseRule('tenant:slug'), { tenant: 'slug' });
  assert.equal(parseRule('description:^cust-(\\d+):x'), { description: '^cust-(\\d+):x' });
  assert.throws(() => parseRule('tenant:owner'), /--netbox tenant:owner/);
});

test('--file takes records, or a report whose entries an operator fixed; a bad record is named', () => {
  const dir = mkdtempSync(join(tmpdir(), 'import-cli-'));
  try {
    const file = join(dir, 'x.json');
    writeFileSync(file, JSON.stringify([{ subscriber_id: 's', prefix: '2001:db8::/56' }]));
    assert.equal(readRecords(file), [{ subscriber_id: 's', prefix: '2001:db8::/56' }]);
    writeFileSync(file, JSON.stringify({ entries: [{ subscriber_id: 's', prefix: 'p', username: null, cpe_id: null, state: 'active', action: 'conflict' }, { subscriber_id: null, prefix: 'q' }] }));
    assert.equal(readRecords(file), [{ subscriber_id: 's', prefix: 'p', username: null, cpe_id: null, state: 'active' }]);
    writeFileSync(file, JSON.stringify([{ prefix: 'p' }]));
    assert.throws(() => readRecords(file), /record 0\.subscriber_id/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--file takes the report\'s CSV back, fixed by hand: quoted fields, empty cells absent, the conflict column ignored', () => {
  const dir = mkdtempSync(join(tmpdir(), 'import-cli-'));
  try {
    const entry = (subscriber_id: string | null, prefix: string, conflicts: { kind: string; message: string }[] = []) =>
      ({ subscriber_id, prefix, username: subscriber_id ? `${subscriber_id}, "the user"` : null, cpe_id: null, state: 'active', conflicts });
    const report = { entries: [entry('s1', '2001:db8::/56', [{ kind: 'shared_prefix', message: 'also on s2, "x"' }]), entry(null, '2001:db8:0:100::/56')] } as unknown as ImportReport;
    const csv = toCsv(report);
    assert.ok(csv.startsWith('subscriber_id,prefix,username,cpe_id,state,conflict\r\n'), csv);
    const file = join(dir, 'fixed.csv');
    writeFileSync(file, csv);
    assert.equal(readRecords(file), [{ subscriber_id: 's1', prefix: '2001:db8::/56', username: 's1, "the user"', cpe_id: null, state: 'active' }]);
    writeFileSync(file, 'subscriber_id,prefix\r\n,2001:db8::/56\r\n');
    assert.throws(() => readRecords(file), /record 0\.subscriber_id/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('--help prints the usage and exits 0', () => {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/import.ts', '--help'], { encoding: 'utf8' });
  assert.is(r.status, 0, r.stderr);
  assert.is(r.stdout, `${HELP}\n`);
});

test.run();
