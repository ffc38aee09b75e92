// The reconciliation job over fakes: what a lifecycle in motion is spared, and a repair that fails.
import pino from 'pino';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { parseConfig } from '../../config.ts';
import { createReconcile } from '../../runtime/reconcile.ts';
import type { FieldReply, FieldSession, RadiusFieldReader } from '../../services/field/radius.ts';
import { createFakeIpam } from '../../services/ipam/fake.ts';
import { ServiceError } from '../../services/errors.ts';
import type { RadiusReplyPort } from '../../services/radius/port.ts';
import { openDatabase } from '../../store/db.ts';
import { createLifecycleStore } from '../../store/lifecycles.ts';
import { asyncOf } from '../../store/port.ts';
import { createReconciliationStore } from '../../store/reconciliation.ts';
import { auditEntry, lifecycleRow } from '../support/lifecycle-rows.ts';

const test = suite('reconcile job (fakes)');

function reader(replies: FieldReply[], sessions: FieldSession[] = []): RadiusFieldReader {
  return {
    async *replies() {
      yield replies;
    },
    repliesOf: async () => new Map(),
    async *openSessions() {
      yield sessions;
    },
    close: async () => undefined,
  };
}

const reply = (username: string, prefix: string): FieldReply => ({
  username,
  rows: [{ id: 1, username, attribute: 'Delegated-IPv6-Prefix', op: ':=', value: prefix }],
  delegatedPrefix: prefix,
  framedPrefix: null,
});

test('a lifecycle with a step in flight is not judged; a failing repair is repair_failed, left in the gauge, and audited', async () => {
  const db = openDatabase(':memory:');
  const store = createLifecycleStore(db);
  const results = createReconciliationStore(db);
  const busy = lifecycleRow({ id: 'lc-busy', subscriber_id: 's-busy', state: 'active', busy: 1, prefix: '2001:db8:1::/56', username: 'busy@isp' });
  const idle = lifecycleRow({ id: 'lc-idle', subscriber_id: 's-idle', state: 'suspended', busy: 0, prefix: '2001:db8:2::/56', username: 'idle@isp' });
  for (const r of [busy, idle]) store.save(r, auditEntry(r, 'CREATED'));
  const replies: RadiusReplyPort = {
    writeReply: async () => undefined,
    removeReply: async () => {
      throw new ServiceError('upstream_unavailable', 'radreply remove: database is locked', { retryable: true });
    },
  };
  let gauge: Record<string, number> = {};
  const ipam = createFakeIpam([{ name: 'test', prefix: '2001:db8::/32', prefixLength: 56 }]);
  const job = createReconcile({
    store: asyncOf(store),
    results: asyncOf(results),
    ipam,
    pools: [{ name: 'test', prefixLength: 56 }],
    // busy@isp carries the wrong prefix, but its lifecycle is mid-step: the run must leave it alone.
    radius: { reader: reader([reply('busy@isp', '2001:db8:9::/56'), reply('idle@isp', '2001:db8:2::/56')]), replies, framedPrefix: 'none' },
    cpe: null,
    config: parseConfig({}).reconcile,
    log: pino({ level: 'silent' }),
    gauge: (c) => void (gauge = c),
  });
  const r = await job.run({ dryRun: false, signal: new AbortController().signal });
  const { items } = results.page({ limit: 100 });
  const mine = items.filter((i) => i.kind.startsWith('radreply'));
  assert.equal(mine.map((i) => [i.kind, i.username, i.action]), [['radreply_stale', 'idle@isp', 'repair_failed']]);
  assert.match(String((mine[0]!.detail.error as { message: string }).message), 'database is locked');
  assert.is(r.counts.repaired, 0);
  assert.is(gauge.radreply_stale, 1);
  const audit = db.prepare("SELECT lifecycle_id, from_state, to_state, detail FROM audit WHERE type = 'RECONCILED'").all() as { lifecycle_id: string; from_state: string; to_state: string; detail: string }[];
  assert.equal(audit.map((a) => [a.lifecycle_id, a.from_state, a.to_state, JSON.parse(a.detail).action]), [['lc-idle', 'suspended', 'suspended', 'repair_failed']]);
  db.close();
});

test('a lifecycle that moved between the walk and its repair is left to the machine: reported, nothing removed', async () => {
  const db = openDatabase(':memory:');
  const store = createLifecycleStore(db);
  const results = createReconciliationStore(db);
  const idle = lifecycleRow({ id: 'lc-idle', subscriber_id: 's-idle', state: 'suspended', busy: 0, prefix: '2001:db8:2::/56', username: 'idle@isp' });
  store.save(idle, auditEntry(idle, 'CREATED'));
  let removed = 0;
  const replies: RadiusReplyPort = { writeReply: async () => undefined, removeReply: async () => void removed++ };
  const job = createReconcile({
    store: { list: async (q) => store.list(q), get: async (id) => ({ ...store.get(id)!, state: 'active', updated_at: '2099-01-01T00:00:00.000Z' }) },
    results: asyncOf(results),
    ipam: createFakeIpam([{ name: 'test', prefix: '2001:db8::/32', prefixLength: 56 }]),
    pools: [{ name: 'test', prefixLength: 56 }],
    radius: { reader: reader([reply('idle@isp', '2001:db8:2::/56')]), replies, framedPrefix: 'none' },
    cpe: null,
    config: parseConfig({}).reconcile,
    log: pino({ level: 'silent' }),
    gauge: () => undefined,
  });
  await job.run({ dryRun: false, signal: new AbortController().signal });
  const [item] = results.page({ kind: 'radreply_stale', limit: 10 }).items;
  assert.equal([item?.action, item?.detail.skipped, removed], ['reported', 'lifecycle_moved', 0]);
  db.close();
});

test.run();
