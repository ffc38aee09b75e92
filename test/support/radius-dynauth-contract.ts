// The DynamicAuthorizationPort contract: one suite, run against the fake and the real client.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { DynamicAuthorizationPort } from '../../services/radius/port.ts';

/** One implementation under test. Its `coa` notifications are configured to go out as CoA. */
export interface DynauthHarness {
  port: DynamicAuthorizationPort;
  /** Records an open session (an accounting Start) on a NAS that answers, or on one that never does. */
  openSession(s: { username: string; sessionId: string; nas: 'answering' | 'silent' }): Promise<void>;
  /** The address each kind of NAS has in the outcomes. */
  nasAddress: { answering: string; silent: string };
  /** Sends to a silent NAS: 1 + configured retries. */
  silentAttempts: number;
  close(): void | Promise<void>;
}

let counter = 0;
/** Usernames unique per test, since a real radacct keeps its rows for the whole run. */
const user = (prefix = 'sub') => `${prefix}-${process.pid}-${++counter}`;

/** Registers and runs the contract suite for one implementation. */
export function dynauthContract(name: string, make: () => Promise<DynauthHarness>): void {
  const test = suite<{ h: DynauthHarness }>(`DynamicAuthorizationPort contract: ${name}`, {} as { h: DynauthHarness });
  test.before(async (ctx) => {
    ctx.h = await make();
  });
  test.after(async (ctx) => {
    await ctx.h?.close();
  });

  test('notifySessions for a user without open sessions sends nothing and returns []', async ({ h }) => {
    assert.equal(await h.port.notifySessions({ username: user(), action: 'disconnect', delegatedPrefix: null }), []);
  });

  test("notifySessions(disconnect) ACKed by the session's NAS", async ({ h }) => {
    const u = user();
    await h.openSession({ username: u, sessionId: 'sess-a', nas: 'answering' });
    const out = await h.port.notifySessions({ username: u, action: 'disconnect', delegatedPrefix: null });
    assert.equal(out, [{ sessionId: 'sess-a', nas: h.nasAddress.answering, action: 'disconnect', attempts: 1, result: 'ack', errorCause: null }]);
  });

  test('notifySessions(coa) goes out as a CoA-Request and is ACKed', async ({ h }) => {
    const u = user();
    await h.openSession({ username: u, sessionId: 'sess-c', nas: 'answering' });
    const out = await h.port.notifySessions({ username: u, action: 'coa', delegatedPrefix: '2001:db8:300::/56' });
    assert.equal(out.map((o) => [o.action, o.result]), [['coa', 'ack']]);
  });

  test('a NAK with Error-Cause 503 is recorded as not_found and does not throw', async ({ h }) => {
    const u = user('nak');
    await h.openSession({ username: u, sessionId: 'sess-n', nas: 'answering' });
    const out = await h.port.notifySessions({ username: u, action: 'disconnect', delegatedPrefix: null });
    assert.equal(out, [{ sessionId: 'sess-n', nas: h.nasAddress.answering, action: 'disconnect', attempts: 1, result: 'not_found', errorCause: 503 }]);
  });

  test('a NAS that never answers is a no_answer outcome after the retransmits, not an error', async ({ h }) => {
    const u = user();
    await h.openSession({ username: u, sessionId: 'sess-s', nas: 'silent' });
    const out = await h.port.notifySessions({ username: u, action: 'disconnect', delegatedPrefix: null });
    assert.equal(out, [{ sessionId: 'sess-s', nas: h.nasAddress.silent, action: 'disconnect', attempts: h.silentAttempts, result: 'no_answer', errorCause: null }]);
  });

  test('each open session gets its own outcome', async ({ h }) => {
    const u = user();
    await h.openSession({ username: u, sessionId: 'sess-1', nas: 'answering' });
    await h.openSession({ username: u, sessionId: 'sess-2', nas: 'silent' });
    const out = await h.port.notifySessions({ username: u, action: 'disconnect', delegatedPrefix: null });
    assert.equal(out.map((o) => `${o.sessionId}@${o.nas}:${o.result}`).sort(), [`sess-1@${h.nasAddress.answering}:ack`, `sess-2@${h.nasAddress.silent}:no_answer`]);
  });

  test('an aborted signal rejects', async ({ h }) => {
    const ac = new AbortController();
    ac.abort();
    await h.port.notifySessions({ username: user(), action: 'disconnect', delegatedPrefix: null }, ac.signal).then(
      () => assert.unreachable('should reject'),
      (e: unknown) => assert.is((e as Error).name, 'AbortError'),
    );
  });

  test.run();
}
