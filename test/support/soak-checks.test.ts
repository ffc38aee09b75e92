// The soak test's checks, on hand-made data: each one flags what it is there to flag (so a green
// soak means the invariants held, not that the checks cannot fail) and accepts what is allowed.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { endProblems, sharedPrefixes, trailProblems, type ApiEvent, type Held, type Lifecycle, type ReplyRow } from './soak-checks.ts';

const test = suite('soak checks');

const lc = (subscriber: string, id: string, state: string, prefix: string | null, over: Partial<Lifecycle> = {}): Lifecycle => ({
  subscriber_id: subscriber,
  lifecycle_id: id,
  state,
  prefix,
  netbox_prefix_id: null,
  username: `${subscriber}@soak`,
  cpe_id: `cpe-${subscriber}`,
  pending: [],
  failure: null,
  ...over,
});
const ev = (id: string, type: string, from: string | null, to: string, fromState: string | null, state: string, at: string): ApiEvent => ({
  lifecycle_id: id,
  type,
  from,
  to,
  at: `2026-01-01T00:00:${at}Z`,
  detail: { state, ...(fromState ? { from_state: fromState } : {}) },
});
const reply = (username: string, value: string): ReplyRow => ({ username, attribute: 'Delegated-IPv6-Prefix', value });
const noCpe = { ids: new Map<string, string>(), delegates: () => false };

const A = '2001:db8::/56';
const B = '2001:db8:0:100::/56';

test('sharedPrefixes: two radreply users, NetBox twice, two live lifecycles in one page; a revoked holder does not count', () => {
  const nb = [{ id: 1, prefix: A, tags: ['ipv6-lifecycle'] }, { id: 2, prefix: A, tags: ['ipv6-lifecycle'] }, { id: 3, prefix: B, tags: [] }];
  const page = [lc('s1', 'l1', 'active', B), lc('s2', 'l2', 'revoking', B), lc('s3', 'l3', 'revoked', A), lc('s4', 'l4', 'allocated', A)];
  const found = sharedPrefixes([reply('u1', A), reply('u2', A), reply('u3', B)], nb, [page]);
  assert.equal(found, [
    `radreply delegates ${A} to u1 and u2`,
    `NetBox holds ${A} 2 times (ids 1, 2)`,
    `${B} is on two live lifecycles: s1 (active) and s2 (revoking)`,
  ]);
});

const trail = (id: string): ApiEvent[] => [
  ev(id, 'CREATED', null, 'pending', null, 'pending', '01.000'),
  ev(id, 'STEP_DONE', 'pending', 'allocated', 'pending', 'allocated.idle', '01.100'),
  ev(id, 'REVOKE', 'allocated', 'revoking', 'allocated.idle', 'revoking.release', '01.200'),
  ev(id, 'STEP_DONE', 'revoking', 'revoked', 'revoking.release', 'revoked', '01.300'),
];

test('trailProblems: one chain per lifecycle passes, with late CPE work of a revoked one after the next began', () => {
  const late = ev('l1', 'PENDING_RESOLVED', 'revoked', 'revoked', 'revoked', 'revoked', '02.150');
  const second = trail('l2').map((e) => ({ ...e, at: e.at.replace(':01.', ':02.') }));
  const events = [...trail('l1'), ...second.slice(0, 2), late, ...second.slice(2)];
  assert.equal(trailProblems('s1', events, [lc('s1', 'l1', 'revoked', null), lc('s1', 'l2', 'revoked', null)]), []);
});

test('trailProblems: a broken link, a path that does not connect, a duplicate, a wrong end and interleaved lifecycles are flagged', () => {
  const t = trail('l1');
  const broken = [t[0]!, t[1]!, { ...t[2]!, from: 'active' }, t[3]!];
  assert.match(trailProblems('s1', broken, [lc('s1', 'l1', 'revoked', null)]).join('\n'), 'leaves active, previous arrived at allocated');
  const path = [t[0]!, t[1]!, { ...t[2]!, detail: { state: 'revoking.release', from_state: 'allocated.radius' } }, t[3]!];
  assert.match(trailProblems('s1', path, [lc('s1', 'l1', 'revoked', null)]).join('\n'), 'leaves path allocated.radius, previous arrived at allocated.idle');
  assert.match(trailProblems('s1', [...t, t[3]!], [lc('s1', 'l1', 'revoked', null)]).join('\n'), 'twice');
  assert.match(trailProblems('s1', t, [lc('s1', 'l1', 'allocated', A)]).join('\n'), 'ends at revoked, the lifecycle is allocated');
  const other = trail('l2').map((e) => ({ ...e, at: e.at.replace(':01.', ':02.') }));
  const interleaved = [...t.slice(0, 2), ...other.slice(0, 1), ...t.slice(2), ...other.slice(1)];
  assert.match(trailProblems('s1', interleaved, [lc('s1', 'l1', 'revoked', null), lc('s1', 'l2', 'revoked', null)]).join('\n'), 'goes back to lifecycle l1');
});

test('endProblems: exact agreement passes', () => {
  const items = [lc('s1', 'l1', 'active', A), lc('s2', 'l2', 'suspended', B), lc('s3', 'l3', 'revoked', null)];
  const held: Held[] = [{ prefix: A, lifecycle_id: 'l1', id: null, status: 'allocated' }, { prefix: B, lifecycle_id: 'l2', id: null, status: 'allocated' }];
  const cpe = { ids: new Map([['s1', 'cpe-s1'], ['s2', 'cpe-s2'], ['s3', 'cpe-s3']]), delegates: (id: string) => id !== 'cpe-s3' };
  assert.equal(endProblems(items, held, [reply('s1@soak', A)], cpe), { settle: [], ipam: [], radreply: [], cpe: [] });
});

test('endProblems: IPAM extra or missing, radreply wrong or left over, unsettled, a CPE on for a revoked subscriber', () => {
  const items = [lc('s1', 'l1', 'active', A), lc('s2', 'l2', 'failed', B, { failure: { step: 'netbox_release', code: 'x', message: 'm' } }), lc('s3', 'l3', 'revoked', null)];
  const held: Held[] = [{ prefix: A, lifecycle_id: 'l1', id: null, status: 'allocated' }, { prefix: '2001:db8:0:200::/56', lifecycle_id: 'l3', id: null, status: 'allocated' }];
  const cpe = { ids: new Map([['s3', 'cpe-s3']]), delegates: () => true };
  const found = endProblems(items, held, [reply('s3@soak', B)], cpe);
  assert.equal(found, {
    settle: ['s2 is still failed at netbox_release: m'],
    ipam: [`IPAM holds 2001:db8:0:200::/56 (allocated) for s3's revoked lifecycle l3; no live lifecycle holds it`, `s2 (failed) holds ${B}; IPAM does not`],
    radreply: [`s1 is active with ${A}; radreply delegates [] to s1@soak`, 'radreply has 1 row(s) for s3@soak, whose lifecycle is revoked'],
    cpe: ['CPE cpe-s3 has DHCPv6-PD on, yet s3 is revoked'],
  });
  assert.equal(endProblems([lc('s1', 'l1', 'active', A)], [], [reply('s1@soak', A)], noCpe).ipam, [`s1 (active) holds ${A}; IPAM does not`]);
});

test.run();
