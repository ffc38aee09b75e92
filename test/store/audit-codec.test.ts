import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { decodeAuditDetail, encodeAuditDetail } from '../../store/audit-codec.ts';
import { openDatabase } from '../../store/db.ts';
import { createLifecycleStore, type AuditEntry, type LifecycleRow } from '../../store/lifecycles.ts';

const test = suite('store: compact audit detail');

const ID = '0190a000-0000-7000-8000-000000000001';
// A lifecycle's trail as the runtime writes it: allocated, activated (RADIUS skipped, CPE done), suspended with a reason.
const TRAIL: [string, string | null, string, object][] = [
  ['CREATED', null, 'pending', { state: 'pending', pool: 'default', prefix_length: 56, ipam: 'embedded' }],
  ['STEP_DONE', 'pending', 'allocated', { state: 'allocated.idle', from_state: 'pending', step: 'embedded_allocate', output: { prefix: '2001:db8:0:100::/56', prefix_length: 56, netbox_prefix_id: null } }],
  ['ACTIVATE', 'allocated', 'allocated', { state: 'allocated.radius', from_state: 'allocated.idle', username: 'u1@isp', cpe_id: '00D09E-HG8245-0001' }],
  ['STEP_SKIPPED', 'allocated', 'allocated', { state: 'allocated.cpe', from_state: 'allocated.radius', step: 'radius_write_reply', reason: 'not_configured' }],
  ['STEP_DONE', 'allocated', 'active', { state: 'active.idle', from_state: 'allocated.cpe', step: 'cpe_configure_pd', output: { status: 'done', task_id: 't-1' } }],
  ['SUSPEND', 'active', 'active', { state: 'active.suspendRadius', from_state: 'active.idle', reason: 'unpaid' }],
  ['STEP_FAILED', 'active', 'failed', { state: 'failed', from_state: 'active.suspendRadius', step: 'radius_remove_reply', error: { code: 'upstream_unavailable', message: 'down', attempts: 5 } }],
];

function stored() {
  const db = openDatabase(':memory:');
  const store = createLifecycleStore(db);
  const at = '2026-01-02T03:04:05.678Z';
  const row: LifecycleRow = {
    id: ID, subscriber_id: 'sub-1', state: 'failed', busy: 0, pool: 'default', prefix: '2001:db8:0:100::/56', prefix_length: 56, netbox_prefix_id: null,
    username: 'u1@isp', cpe_id: null, allocated_at: at, activated_at: at, suspended_at: null, revoked_at: null, created_at: at, updated_at: at, next_pending_at: null,
    snapshot: '{}',
  };
  const audits: AuditEntry[] = TRAIL.map(([type, from, to, detail]) => ({ lifecycle_id: ID, subscriber_id: 'sub-1', at, type, from_state: from, to_state: to, detail: JSON.stringify(detail) }));
  store.saveBatch(audits.map((audit, i) => ({ row, audit, rowStored: i > 0 })));
  return { db, store, audits };
}

test('the events read back the very JSON text written, in fewer bytes', () => {
  const { db, store, audits } = stored();
  assert.equal(store.events('sub-1'), audits);
  const raw = db.prepare<[], { detail: string }>('SELECT detail FROM audit ORDER BY seq').all().map((r) => r.detail);
  const json = audits.reduce((n, a) => n + a.detail!.length, 0);
  const compact = raw.reduce((n, d) => n + d.length, 0);
  // Failed before: the detail was stored as the JSON text itself (compact === json).
  assert.ok(compact <= json * 0.6, `stored ${compact} bytes of detail for ${json} of JSON`);
  db.close();
});

test('a row written before the codec (a JSON object) reads as it is', () => {
  const { db, store } = stored();
  const legacy = JSON.stringify({ state: 'failed', from_state: 'failed', note: 'old' });
  db.prepare(`INSERT INTO audit (lifecycle_id, subscriber_id, at, type, from_state, to_state, detail) VALUES (?, 'sub-1', 'x', 'RETRY', 'failed', 'failed', ?)`).run(ID, legacy);
  assert.is(store.events('sub-1').at(-1)!.detail, legacy);
  db.close();
});

test('the IPAM of a detail is stored as its index; one stored as its name before reads as it was', () => {
  const text = JSON.stringify({ state: 'pending', pool: 'default', prefix_length: 56, ipam: 'embedded' });
  const stored = encodeAuditDetail(text, 'pending', null)!;
  assert.is(stored, '["",0,-1,{"E":"default","C":56,"F":0}]');
  assert.is(decodeAuditDetail(stored, 'pending', null), text);
  assert.is(decodeAuditDetail('["",0,-1,{"E":"default","C":56,"F":"embedded"}]', 'pending', null), text);
  // An IPAM the list does not name stays its name.
  const other = JSON.stringify({ state: 'pending', ipam: 'future' });
  assert.is(decodeAuditDetail(encodeAuditDetail(other, 'pending', null), 'pending', null), other);
});

test('what would not read back exactly is stored as it is', () => {
  const odd = [
    { state: 'revoked', step: 'some_future_step', Capital: 1 },
    { state: 'x.y', from_state: 'elsewhere.z', output: { A: 'a capital key', prefix: 'p' } },
    { pool: 'no state first', state: 'pending' },
    { state: 'pending', from_state: 7 },
  ];
  for (const d of odd) {
    const text = JSON.stringify(d);
    const stored = encodeAuditDetail(text, 'revoked', null);
    assert.is(decodeAuditDetail(stored, 'revoked', null), text);
  }
  assert.is(encodeAuditDetail(null, 'pending', null), null);
});

test('handed the object the text was written from, the codec stores the same bytes as from the text', () => {
  const when = new Date('2026-01-02T03:04:05.678Z');
  const objects: [string, string | null, object][] = [
    ...TRAIL.map(([, from, to, d]): [string, string | null, object] => [to, from, d]),
    // Not JSON as it is: undefined values (dropped by the text), a Date (its text is a string), arrays.
    ['suspended', 'active', { state: 'suspended', from_state: 'active.idle', reason: undefined }],
    ['suspended', 'active', { state: 'suspended', from_state: 'active.idle', reason: 'r', note: undefined, list: [1, undefined, 'x'] }],
    ['active', 'active', { state: 'active.idle', at: when, output: { at: when, prefix: 'p' } }],
    ['revoked', null, { state: 'revoked', step: 'some_future_step', Capital: 1 }],
    ['revoked', null, { pool: 'no state first', state: 'pending' }],
    ['revoked', null, { state: 'pending', from_state: 7 }],
  ];
  for (const [to, from, object] of objects) {
    const text = JSON.stringify(object);
    const stored = encodeAuditDetail(text, to, from, object);
    assert.is(stored, encodeAuditDetail(text, to, from), text);
    assert.is(decodeAuditDetail(stored, to, from), text);
  }
});

test.run();
