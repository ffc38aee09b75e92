// A CoA that moves the prefix is confirmed per session: by its own radacct row, or by a new
// session (a Start after re-authentication) on the same NAS. Review 16: with one user on two NASes,
// NAS B's Interim-Update showing the new prefix made NAS A's CoA `confirmed` too, though it proves
// nothing of what A did; A's fallback (disconnect) never ran.
import pino from 'pino';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { confirmFromAccounting, type ConfirmOptions } from '../../services/radius/confirm.ts';
import type { SessionOutcome } from '../../services/radius/port.ts';
import type { OpenSession } from '../../services/radius/sessions.ts';

const test = suite('review16: a CoA is confirmed by its own session or its own NAS, not another NAS');
const PREFIX = '2001:db8:900::/56';
const USER = 'dave@isp';
const base = { username: USER, framedIpv6Prefix: null, startedAt: null, delegatedIpv6Prefix: null };
const onA: OpenSession = { ...base, nasIpAddress: '192.0.2.1', acctSessionId: 'a-1', acctUniqueId: 'u-a-1' };
const onB: OpenSession = { ...base, nasIpAddress: '192.0.2.2', acctSessionId: 'b-1', acctUniqueId: 'u-b-1' };
const acked = (s: OpenSession): SessionOutcome => ({ sessionId: s.acctSessionId, nas: s.nasIpAddress, action: 'coa', attempts: 1, result: 'ack', errorCause: null });

/** Confirms CoAs ACKed by both NASes while `open` is what radacct shows; `later` changes it after the first poll. */
async function confirm(open: OpenSession[], later?: (open: OpenSession[]) => void, unconfirmedCoa: 'keep' | 'disconnect' = 'keep') {
  let polls = 0;
  const disconnected: string[] = [];
  const opts: ConfirmOptions = {
    sessions: {
      openSessions: async (username) => {
        assert.is(username, USER);
        if (polls++ === 1) later?.(open);
        return open.map((s) => ({ ...s }));
      },
    },
    windowMs: 120,
    pollMs: 10,
    target: () => ({ reportsPd: true, unconfirmedCoa }),
    disconnect: async (s) => (disconnected.push(s.acctSessionId), { ...acked(s), action: 'disconnect' }),
    log: pino({ level: 'silent' }),
  };
  const out = await confirmFromAccounting({ username: USER, action: 'coa', delegatedPrefix: PREFIX }, [onA, onB].map((s) => ({ session: s, outcome: acked(s) })), opts);
  return { results: out.map((o) => [o.sessionId, o.action, o.result]), disconnected };
}

test('only NAS B reports the new prefix: A is acked_unconfirmed, B confirmed', async () => {
  const { results } = await confirm([onA, { ...onB, delegatedIpv6Prefix: PREFIX }]);
  assert.equal(results, [
    ['a-1', 'coa', 'acked_unconfirmed'],
    ['b-1', 'coa', 'confirmed'],
  ]);
});

test("A's profile falls back to a Disconnect: A is disconnected, B is not", async () => {
  const { results, disconnected } = await confirm([onA, { ...onB, delegatedIpv6Prefix: '2001:db8:900:0::/56' }], undefined, 'disconnect');
  assert.equal(disconnected, ['a-1']);
  assert.equal(results, [
    ['a-1', 'disconnect', 'ack'],
    ['b-1', 'coa', 'confirmed'],
  ]);
});

test("a new Start on A's NAS reporting the prefix confirms A (a re-authentication after the CoA)", async () => {
  const { results } = await confirm([onA, { ...onB, delegatedIpv6Prefix: PREFIX }], (open) =>
    open.push({ ...base, nasIpAddress: '192.0.2.1', acctSessionId: 'a-2', acctUniqueId: 'u-a-2', delegatedIpv6Prefix: PREFIX }),
  );
  assert.equal(results, [
    ['a-1', 'coa', 'confirmed'],
    ['b-1', 'coa', 'confirmed'],
  ]);
});

test("a new Start on B's NAS does not confirm A", async () => {
  const { results } = await confirm([onA, onB], (open) => open.push({ ...base, nasIpAddress: '192.0.2.2', acctSessionId: 'b-2', acctUniqueId: 'u-b-2', delegatedIpv6Prefix: PREFIX }));
  assert.equal(results, [
    ['a-1', 'coa', 'acked_unconfirmed'],
    ['b-1', 'coa', 'confirmed'],
  ]);
});

test("A's own row reporting the prefix (an Interim-Update) confirms A alone", async () => {
  const { results } = await confirm([onA, onB], (open) => (open[0] = { ...onA, delegatedIpv6Prefix: PREFIX }));
  assert.equal(results, [
    ['a-1', 'coa', 'confirmed'],
    ['b-1', 'coa', 'acked_unconfirmed'],
  ]);
});

test.run();
