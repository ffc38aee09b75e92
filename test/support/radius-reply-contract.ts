// The RadiusReplyPort contract: one suite, run against every implementation (STYLE.md §7).
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ServiceError } from '../../services/errors.ts';
import type { RadiusReplyPort } from '../../services/radius/port.ts';
import type { FramedPrefixMode, ReplyRow } from '../../services/radius/reply-attributes.ts';

/** One implementation under test, with a back door to the table. */
export interface ReplyHarness {
  port: RadiusReplyPort;
  /** Inserts a row as another tool (or an operator) would. */
  seed(row: Omit<ReplyRow, 'id'>): void;
  /** Every row of the table, in id order. */
  rows(): ReplyRow[];
  close(): void | Promise<void>;
}

const D = 'Delegated-IPv6-Prefix';
const F = 'Framed-IPv6-Prefix';
const view = (rows: ReplyRow[], username?: string) =>
  rows.filter((r) => username === undefined || r.username === username).map((r) => `${r.username} ${r.attribute} ${r.op} ${r.value}`).sort();

/** Registers and runs the contract suite for one implementation. */
export function replyContract(name: string, make: (framedPrefix: FramedPrefixMode) => ReplyHarness | Promise<ReplyHarness>): void {
  const test = suite<{ h: ReplyHarness }>(`RadiusReplyPort contract: ${name}`, {} as { h: ReplyHarness });
  let open: ReplyHarness[] = [];
  const harness = async (mode: FramedPrefixMode = 'given') => {
    const h = await make(mode);
    open.push(h);
    return h;
  };
  test.after.each(async () => {
    for (const h of open) await h.close();
    open = [];
  });

  test('writeReply stores Delegated- and Framed-IPv6-Prefix with op := for the user', async () => {
    const h = await harness();
    await h.port.writeReply({ username: 'alice', delegatedPrefix: '2001:db8:100::/56', framedPrefix: '2001:db8:ffff:1::/64' });
    assert.equal(view(h.rows()), [`alice ${D} := 2001:db8:100::/56`, `alice ${F} := 2001:db8:ffff:1::/64`]);
  });

  test('writeReply twice leaves the same rows, ids included', async () => {
    const h = await harness();
    const cmd = { username: 'alice', delegatedPrefix: '2001:db8:100::/56', framedPrefix: '2001:db8:ffff:1::/64' };
    await h.port.writeReply(cmd);
    const before = h.rows();
    await h.port.writeReply(cmd);
    assert.equal(h.rows(), before);
  });

  test('writeReply with a new prefix replaces the old one', async () => {
    const h = await harness();
    await h.port.writeReply({ username: 'alice', delegatedPrefix: '2001:db8:100::/56', framedPrefix: '2001:db8:ffff:1::/64' });
    await h.port.writeReply({ username: 'alice', delegatedPrefix: '2001:db8:200::/56', framedPrefix: '2001:db8:ffff:2::/64' });
    assert.equal(view(h.rows()), [`alice ${D} := 2001:db8:200::/56`, `alice ${F} := 2001:db8:ffff:2::/64`]);
  });

  test('writeReply without a framed prefix removes the one written before', async () => {
    const h = await harness();
    await h.port.writeReply({ username: 'alice', delegatedPrefix: '2001:db8:100::/56', framedPrefix: '2001:db8:ffff:1::/64' });
    await h.port.writeReply({ username: 'alice', delegatedPrefix: '2001:db8:100::/56', framedPrefix: null });
    assert.equal(view(h.rows()), [`alice ${D} := 2001:db8:100::/56`]);
  });

  test('writeReply and removeReply never touch other attributes or other users', async () => {
    const h = await harness();
    h.seed({ username: 'alice', attribute: 'Session-Timeout', op: ':=', value: '86400' });
    h.seed({ username: 'bob', attribute: D, op: ':=', value: '2001:db8:900::/56' });
    h.seed({ username: 'alice2', attribute: F, op: ':=', value: '2001:db8:ffff:9::/64' });
    await h.port.writeReply({ username: 'alice', delegatedPrefix: '2001:db8:100::/56', framedPrefix: '2001:db8:ffff:1::/64' });
    await h.port.writeReply({ username: 'alice', delegatedPrefix: '2001:db8:200::/56', framedPrefix: null });
    await h.port.removeReply({ username: 'alice' });
    assert.equal(view(h.rows()), [`alice Session-Timeout := 86400`, `alice2 ${F} := 2001:db8:ffff:9::/64`, `bob ${D} := 2001:db8:900::/56`]);
  });

  test('writeReply collapses duplicates and fixes a foreign op on our attribute', async () => {
    const h = await harness();
    h.seed({ username: 'alice', attribute: D, op: '=', value: '2001:db8:100::/56' });
    h.seed({ username: 'alice', attribute: D, op: ':=', value: '2001:db8:700::/56' });
    await h.port.writeReply({ username: 'alice', delegatedPrefix: '2001:db8:100::/56', framedPrefix: null });
    assert.equal(view(h.rows()), [`alice ${D} := 2001:db8:100::/56`]);
  });

  test('our attributes spelled in another case are ours: writeReply rewrites them as it writes, removeReply removes them', async () => {
    const h = await harness();
    h.seed({ username: 'alice', attribute: 'delegated-ipv6-prefix', op: ':=', value: '2001:db8:100::/56' });
    h.seed({ username: 'bob', attribute: 'DELEGATED-IPV6-PREFIX', op: '+=', value: '2001:db8:900::/56' });
    await h.port.writeReply({ username: 'alice', delegatedPrefix: '2001:db8:100::/56', framedPrefix: null });
    assert.equal(view(h.rows()), [`alice ${D} := 2001:db8:100::/56`, `bob DELEGATED-IPV6-PREFIX += 2001:db8:900::/56`]);
    await h.port.removeReply({ username: 'bob' });
    assert.equal(view(h.rows(), 'bob'), []);
  });

  test('removeReply removes our rows and succeeds when they are already gone', async () => {
    const h = await harness();
    await h.port.writeReply({ username: 'alice', delegatedPrefix: '2001:db8:100::/56', framedPrefix: '2001:db8:ffff:1::/64' });
    await h.port.removeReply({ username: 'alice' });
    assert.equal(view(h.rows()), []);
    await h.port.removeReply({ username: 'alice' });
    await h.port.removeReply({ username: 'nobody' });
    assert.equal(view(h.rows()), []);
  });

  test('writeReply stores the canonical text of the prefix', async () => {
    const h = await harness();
    await h.port.writeReply({ username: 'alice', delegatedPrefix: '2001:DB8:0100:0000::/56', framedPrefix: '2001:db8:ffff:0001:0:0:0:0/64' });
    assert.equal(view(h.rows()), [`alice ${D} := 2001:db8:100::/56`, `alice ${F} := 2001:db8:ffff:1::/64`]);
  });

  test('writeReply rejects an invalid prefix with validation_error and writes nothing', async () => {
    const h = await harness();
    for (const bad of ['2001:db8:100::1/56', 'not-a-prefix', '2001:db8::/129']) {
      const err = await h.port.writeReply({ username: 'alice', delegatedPrefix: bad, framedPrefix: null }).then(() => null, (e: unknown) => e);
      assert.instance(err, ServiceError, bad);
      assert.is((err as ServiceError).code, 'validation_error');
      assert.is((err as ServiceError).retryable, false);
    }
    assert.equal(view(h.rows()), []);
  });

  test("framed_prefix 'none' neither writes nor removes Framed-IPv6-Prefix", async () => {
    const h = await harness('none');
    h.seed({ username: 'alice', attribute: F, op: ':=', value: '2001:db8:ffff:5::/64' });
    await h.port.writeReply({ username: 'alice', delegatedPrefix: '2001:db8:100::/56', framedPrefix: '2001:db8:ffff:1::/64' });
    await h.port.removeReply({ username: 'alice' });
    assert.equal(view(h.rows()), [`alice ${F} := 2001:db8:ffff:5::/64`]);
  });

  test("framed_prefix 'first64' derives the WAN /64 when none is given", async () => {
    const h = await harness('first64');
    await h.port.writeReply({ username: 'alice', delegatedPrefix: '2001:db8:100::/56', framedPrefix: null });
    assert.equal(view(h.rows()), [`alice ${D} := 2001:db8:100::/56`, `alice ${F} := 2001:db8:100::/64`]);
    const err = await h.port.writeReply({ username: 'bob', delegatedPrefix: '2001:db8:200::/64', framedPrefix: null }).then(() => null, (e: unknown) => e);
    assert.is((err as ServiceError).code, 'validation_error');
  });

  test('an aborted signal writes nothing', async () => {
    const h = await harness();
    const ac = new AbortController();
    ac.abort();
    await h.port.writeReply({ username: 'alice', delegatedPrefix: '2001:db8:100::/56', framedPrefix: null }, ac.signal).then(
      () => assert.unreachable('should reject'),
      () => undefined,
    );
    assert.equal(view(h.rows()), []);
  });

  test.run();
}
