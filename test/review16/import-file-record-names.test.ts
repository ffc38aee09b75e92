// A file record's subscriber_id and cpe_id were allowed 256 characters while the API stops at 128
// and 255 (services/names.ts): a name no API call could store went on into the plan. The route and
// the CLI's file (JSON or CSV) now take the API's names, so such a record is a 400 (a failed read
// in the CLI) naming the field, and nothing changes. NetBox and RADIUS names, which no request
// validates, are still the plan's invalid_name conflicts.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { readRecords } from '../../scripts/import.ts';
import { plan, type KnownLifecycles } from '../../services/adoption/plan.ts';
import { fromRadius } from '../../services/adoption/sources.ts';
import { startHarness, type Harness } from '../http/support.ts';

const test = suite('import: file records take the API names');
let h: Harness;
test.before.each(async () => {
  h = await startHarness();
});
test.after.each(async () => {
  await h.close();
});

const PREFIX = '2001:db8:0:4100::/56';
const record = (over: Record<string, unknown>) => ({ subscriber_id: 'sub-n', prefix: PREFIX, ...over });
const post = (r: Record<string, unknown>, dry = true) => h.post(`import${dry ? '' : '?dry_run=false'}`, { sources: { file: { records: [record({ subscriber_id: 'sub-ok', prefix: '2001:db8:0:4000::/56' }), r] } } });

for (const [field, over, ok] of [
  ['subscriber_id', 129, 128],
  ['cpe_id', 256, 255],
  ['username', 254, 253],
] as const) {
  test(`a ${over}-character ${field} is a 400 naming records[1].${field}; nothing is changed`, async () => {
    const res = await post(record({ [field]: 'a'.repeat(over) }), false);
    assert.is(res.status, 400, res.text);
    assert.equal([res.body.error.code, res.body.error.field], ['validation_error', `sources.file.records.1.${field}`]);
    assert.ok(res.body.error.message.startsWith(`sources.file.records.1.${field}: `), res.body.error.message);
    assert.equal(h.ipam.allocations(), []);
    assert.is((await h.get('/api/v1/network/ipv6/lifecycle/sub-ok')).status, 404);
  });

  test(`a ${ok}-character ${field} is accepted (dry run: adopt, nothing changed)`, async () => {
    const value = 'a'.repeat(ok);
    const res = await post(record({ [field]: value }));
    assert.is(res.status, 200, res.text);
    const e = res.body.entries.find((x: any) => x.prefix === PREFIX);
    assert.equal([e.action, e.conflicts, e[field]], ['adopt', [], value]);
    assert.equal(h.ipam.allocations(), []);
  });
}

test('the CLI refuses a CSV record the API would refuse, naming the record and field', () => {
  const dir = mkdtempSync(join(tmpdir(), 'import-names-'));
  try {
    const file = join(dir, 'records.csv');
    writeFileSync(file, `subscriber_id,prefix,cpe_id\nsub-ok,2001:db8:0:4000::/56,${'c'.repeat(255)}\n${'s'.repeat(129)},${PREFIX},\n`);
    assert.throws(() => readRecords(file), (err: Error) => err.message === `--file ${file}: record 1.subscriber_id: Too big: expected string to have <=128 characters`);
    writeFileSync(file, `subscriber_id,prefix,cpe_id\nsub-ok,2001:db8:0:4000::/56,${'c'.repeat(256)}\n`);
    assert.throws(() => readRecords(file), /record 0\.cpe_id: /);
    writeFileSync(file, `subscriber_id,prefix,cpe_id\n${'s'.repeat(128)},2001:db8:0:4000::/56,${'c'.repeat(255)}\n`);
    assert.equal(readRecords(file), [{ subscriber_id: 's'.repeat(128), prefix: '2001:db8:0:4000::/56', cpe_id: 'c'.repeat(255) }]);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('a RADIUS username no request validated stays the plan\'s invalid_name conflict', async () => {
  const long = 'u'.repeat(254);
  const radius = {
    async *replies() {
      yield [{ username: long, delegatedPrefix: PREFIX }];
    },
    async *openSessions() {},
  };
  const known: KnownLifecycles = { liveOf: () => undefined, liveWithPrefix: () => undefined, liveWithUsername: () => undefined };
  const observations = await fromRadius(radius as never, { sessions: false });
  const [e] = plan({ observations, pools: [{ name: 'pd', prefix: '2001:db8::/32', prefix_length: 56, ipam: 'embedded' }], known, radiusRead: true, subscriberFromUsername: true });
  // The subscriber taken from that username is one too long as well: both are named.
  assert.equal([e!.action, e!.conflicts.map((c) => [c.kind, c.message.split(' ')[0]])], ['conflict', [['invalid_name', 'subscriber_id'], ['invalid_name', 'username']]]);
});

test.run();
