// POST /import (dry_run=false) killed with SIGKILL half-way through applying a file of 300 records
// in batches of 10, with NetBox serving the pool. The run sent again after the restart must adopt
// exactly the rest: one lifecycle per record, each NetBox block marked once and for its own
// lifecycle, the leak check finding nothing, one IMPORTED entry per lifecycle in the audit trail.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { formatPrefix, nthSubnet, parsePrefix } from '../../services/ipv6.ts';
import { MARK_FIELDS } from '../../services/netbox/mark.ts';
import { peerAvailable } from '../support/freeradius.ts';
import { startRig, type Rig } from '../review12/update-rig.ts';

const NAME = 'review14: POST /import killed half-way, sent again after the restart';
const N = 300;
if (peerAvailable(NAME)) {
  const test = suite(NAME);
  let r: Rig;
  test.before(async () => {
    r = await startRig([], { tiny: false });
  });
  test.after(() => r.close());
  const sleep = (ms: number) => new Promise((res) => setTimeout(res, ms));
  const parent = parsePrefix('2001:db8:100::/44');
  // From the top of the pool down, clear of what first fit hands out.
  const records = Array.from({ length: N }, (_, i) => ({ subscriber_id: `imp-${i}`, prefix: formatPrefix(nthSubnet(parent, 56, BigInt(4095 - i))) }));
  const body = { sources: { file: { records } }, options: { batch_size: 10 } };
  const marked = () => r.netbox.prefixes().filter((p) => p.prefix.endsWith('/56') && (p.tags as unknown[]).length > 0);

  test('SIGKILL half-way through the apply → the rerun adopts exactly the rest, nothing twice, nothing lost', async () => {
    const first = r.call('POST', 'import?dry_run=false', body).catch(() => null);
    for (const end = Date.now() + 20_000; marked().length < N / 2; await sleep(1)) if (Date.now() > end) throw new Error(`only ${marked().length} marked`);
    await r.svc.kill();
    const got = await first;
    assert.is(got, null, 'the run was killed before it answered');
    const atKill = marked().length;
    assert.ok(atKill < N, 'the kill came before the end');
    await r.svc.start();
    await r.svc.ready();
    const again = await r.call('POST', 'import?dry_run=false', body);
    assert.is(again.status, 200, JSON.stringify(again.body).slice(0, 500));
    assert.equal(again.body.applied?.failed, [], JSON.stringify(again.body.applied));
    const adoptedBefore = again.body.summary.adopted;
    assert.is(adoptedBefore + again.body.applied.adopted, N, JSON.stringify(again.body.summary));

    const live = [];
    for (let cursor: string | null = null, first = true; first || cursor; first = false) {
      const page: any = (await r.call('GET', `lifecycle?limit=100${cursor ? `&cursor=${cursor}` : ''}`)).body;
      live.push(...page.items);
      cursor = page.next_cursor;
    }
    assert.is(live.length, N, 'one lifecycle per record');
    const want = new Map(records.map((x) => [x.subscriber_id, x.prefix]));
    for (const l of live) assert.is(l.prefix, want.get(l.subscriber_id), l.subscriber_id);
    const rows = marked();
    assert.is(rows.length, N, 'each block marked once');
    assert.is(new Set(rows.map((p) => p.prefix)).size, N, 'no block twice in NetBox');
    for (const p of rows) assert.is(p.customFields[MARK_FIELDS.subscriberId] ?? p.description, records.find((x) => x.prefix === p.prefix)?.subscriber_id, p.prefix);
    const leaks = await r.call('POST', 'jobs/leaks');
    assert.equal([leaks.status, leaks.body.counts?.leaked], [200, 0], JSON.stringify(leaks.body));
    for (const s of ['imp-0', `imp-${N / 2}`, `imp-${N - 1}`]) {
      const ev = await r.events(s);
      assert.equal(ev.map((e) => e.type), ['IMPORTED'], s);
    }
  });

  test.run();
}
