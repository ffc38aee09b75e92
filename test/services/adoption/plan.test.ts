import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { adoptedLifecycleId, plan, type KnownLifecycles } from '../../../services/adoption/plan.ts';
import { checkRule, fromFile, fromNetbox, subscriberByRule, type Observation } from '../../../services/adoption/sources.ts';
import type { FileRecord, NetboxFieldPrefix } from '../../../services/adoption/types.ts';
import { ServiceError } from '../../../services/errors.ts';

const test = suite('adoption: the rules and the join');

const nb = (over: Partial<NetboxFieldPrefix> = {}): NetboxFieldPrefix => ({
  pool: 'pd', prefix: '2001:db8:0:100::/56', prefixLength: 56, netboxPrefixId: 7, status: 'active', lifecycleId: null, subscriberId: null,
  quarantined: false, tenant: { id: 42, name: 'Acme Ltd', slug: 'acme' }, description: 'cust=C-77 rack 3', customFields: { sub: 'C-1' }, ...over,
});
const POOLS = [{ name: 'pd', prefix: '2001:db8::/40', prefix_length: 56, ipam: 'netbox' as const }];
const NONE: KnownLifecycles = { liveOf: () => undefined, liveWithPrefix: () => undefined, liveWithUsername: () => undefined };
const run = (observations: Observation[], more: Partial<Parameters<typeof plan>[0]> = {}) =>
  plan({ observations, pools: POOLS, known: NONE, radiusRead: false, subscriberFromUsername: false, ...more });
const reply = (username: string, prefix: string, source: Observation['source'] = 'radreply'): Observation => ({
  source, prefix, username, subscriberId: null, cpeId: null, state: null, netboxPrefixId: null, markedFor: null,
});

test('each rule names the subscriber its way; our own mark names it whatever the rule', () => {
  assert.is(subscriberByRule(nb(), { custom_field: 'sub' }), 'C-1');
  assert.is(subscriberByRule(nb(), { custom_field: 'missing' }), null);
  assert.is(subscriberByRule(nb(), { tenant: 'slug' }), 'acme');
  assert.is(subscriberByRule(nb(), { tenant: 'id' }), '42');
  assert.is(subscriberByRule(nb({ tenant: null }), { tenant: 'name' }), null);
  assert.is(subscriberByRule(nb(), { description: 'cust=(\\S+)' }), 'C-77');
  assert.is(subscriberByRule(nb({ lifecycleId: 'lc-1', subscriberId: 'S-OURS' }), { tenant: 'slug' }), 'S-OURS');
});

test('a description rule must compile and capture: refused before anything is read, naming the field', () => {
  for (const bad of ['cust=(', 'cust=\\S+']) {
    try {
      checkRule({ description: bad });
      assert.unreachable(bad);
    } catch (err) {
      assert.instance(err, ServiceError);
      assert.equal([(err as ServiceError).code, (err as ServiceError).field], ['validation_error', 'sources.netbox.subscriber.description']);
    }
  }
  checkRule({ description: '(?:x)?(\\d+)' });
});

test('NetBox containers and our prefixes in their hold-down are nobody\'s to adopt', () => {
  const obs = fromNetbox([nb({ status: 'container' }), nb({ status: 'deprecated', lifecycleId: 'lc-1', subscriberId: 'S' }), nb({ prefix: '2001:db8:0:200::/56' })], { custom_field: 'sub' });
  assert.equal(obs.map((o) => o.prefix), ['2001:db8:0:200::/56']);
});

test('the file maps RADIUS usernames to subscribers; a session alone makes a prefix active; usernames name subscribers only when asked', () => {
  const file = fromFile([{ subscriber_id: 'S-9', prefix: '2001:db8:0:900::/56', username: 'nine' }]);
  const entries = run([...file, reply('nine', '2001:db8:0:900::/56', 'radacct'), reply('solo', '2001:db8:0:a00::/56')]);
  assert.equal(entries.map((e) => [e.prefix, e.subscriber_id, e.state, e.action, e.conflicts.map((c) => c.kind)]), [
    ['2001:db8:0:900::/56', 'S-9', 'active', 'adopt', []],
    ['2001:db8:0:a00::/56', null, 'active', 'conflict', ['unnamed']],
  ]);
  const named = run([reply('solo', '2001:db8:0:a00::/56')], { subscriberFromUsername: true });
  assert.equal([named[0]!.subscriber_id, named[0]!.lifecycle_id], ['solo', adoptedLifecycleId('solo', '2001:db8:0:a00::/56')]);
});

test('a prefix the subscriber\'s live lifecycle owns is adopted already; another subscriber\'s is a conflict', () => {
  const known: KnownLifecycles = {
    liveOf: (s) => (s === 'S-1' ? { id: 'lc-1', prefix: '2001:db8:0:100::/56' } : undefined),
    liveWithPrefix: (p) => (p === '2001:db8:0:100::/56' ? { id: 'lc-1', subscriber_id: 'S-1' } : undefined),
    liveWithUsername: () => undefined,
  };
  const own = run(fromFile([{ subscriber_id: 'S-1', prefix: '2001:db8:0:100::/56' }]), { known });
  assert.equal([own[0]!.action, own[0]!.lifecycle_id, own[0]!.conflicts], ['adopted', 'lc-1', []]);
  const other = run(fromFile([{ subscriber_id: 'S-2', prefix: '2001:db8:0:100::/56' }]), { known });
  assert.equal(other[0]!.conflicts.map((c) => c.kind), ['live_lifecycle']);
});

test('two states stated for one prefix are a conflict; a stated state wins over RADIUS', () => {
  const two = run(fromFile([{ subscriber_id: 'S', prefix: '2001:db8::/56', state: 'active' }, { subscriber_id: 'S', prefix: '2001:db8::/56', state: 'suspended' }]));
  assert.equal(two[0]!.conflicts.map((c) => c.kind), ['shared_prefix']);
  const stated = run([...fromFile([{ subscriber_id: 'S', prefix: '2001:db8::/56', state: 'suspended' }]), reply('u', '2001:db8::/56')]);
  assert.equal([stated[0]!.state, stated[0]!.username, stated[0]!.action], ['suspended', 'u', 'adopt']);
});

test('a subscriber id, username or CPE id the API would refuse is a conflict naming the field, never adopted', () => {
  const bad: Array<[Partial<FileRecord>, string]> = [
    [{ subscriber_id: '.' }, 'subscriber_id "."'],
    [{ subscriber_id: '..' }, 'subscriber_id ".."'],
    [{ subscriber_id: '   ' }, 'subscriber_id "   "'],
    [{ subscriber_id: 'a\u0007b' }, 'subscriber_id "a\\u0007b"'],
    [{ subscriber_id: 'x'.repeat(129) }, 'subscriber_id "xxx'],
    [{ subscriber_id: 'ab\uD800' }, 'subscriber_id "ab\\ud800"'],
    [{ username: 'al\nice' }, 'username "al\\nice"'],
    [{ username: 'u'.repeat(254) }, 'username "uuu'],
    [{ cpe_id: 'has space' }, 'cpe_id "has space"'],
  ];
  for (const [over, start] of bad) {
    const [e] = run(fromFile([{ subscriber_id: 'S-1', prefix: '2001:db8:0:100::/56', ...over }]));
    assert.equal([e!.action, e!.conflicts.map((c) => c.kind)], ['conflict', ['invalid_name']], JSON.stringify(over));
    assert.ok(e!.conflicts[0]!.message.startsWith(start), e!.conflicts[0]!.message);
  }
  const [fine] = run(fromFile([{ subscriber_id: 'sub.42 Ü', prefix: '2001:db8:0:100::/56', username: 'alice@example.net', cpe_id: '00D09E-HG8245-0123%2D' }]));
  assert.equal([fine!.action, fine!.conflicts], ['adopt', []]);
});

test('one RADIUS username, one live lifecycle: shared in the plan, or a live lifecycle\'s, is a conflict', () => {
  const two = run(fromFile([
    { subscriber_id: 'S-1', prefix: '2001:db8:0:100::/56', username: 'u' },
    { subscriber_id: 'S-2', prefix: '2001:db8:0:200::/56', username: 'u' },
    { subscriber_id: 'S-3', prefix: '2001:db8:0:300::/56', username: 'v' },
  ]));
  assert.equal(two.map((e) => [e.subscriber_id, e.action, e.conflicts.map((c) => c.kind)]), [
    ['S-1', 'conflict', ['username_in_use']],
    ['S-2', 'conflict', ['username_in_use']],
    ['S-3', 'adopt', []],
  ]);
  const known: KnownLifecycles = { ...NONE, liveWithUsername: (u) => (u === 'u' ? { id: 'lc-9', subscriber_id: 'S-9' } : undefined) };
  const held = run(fromFile([{ subscriber_id: 'S-1', prefix: '2001:db8:0:100::/56', username: 'u' }]), { known });
  assert.equal(held[0]!.conflicts, [{ kind: 'username_in_use', message: "username u is lifecycle lc-9's, of subscriber S-9" }]);
  const own = run(fromFile([{ subscriber_id: 'S-9', prefix: '2001:db8:0:100::/56', username: 'u' }]), { known });
  assert.equal(own[0]!.conflicts, []);
});

test.run();
