// The store contract's idempotency keys (first begin wins, owners, take-over, release, prune): added to
// the suite of test/store/contract-suite.ts, so each runs against SQLite and PostgreSQL alike.
import type { Test } from 'uvu';
import * as assert from 'uvu/assert';
import type { StorePort } from '../../store/port.ts';

export function storeIdempotencyContract(test: Test, ctx: () => { s: StorePort }): void {
  test('idempotency with several instances → the owner kept through accept; a dead owner\'s key taken over once, only as it was seen', async () => {
    const { s } = ctx();
    const k = s.idempotency;
    assert.is(await k.begin('o1', 'h', 'node-a'), true);
    assert.is((await k.get('o1'))?.owner, 'node-a');
    // Noted as before mark_seq (a count of entries): read back as one, kept through a take-over.
    await k.accept('o1', { lifecycleId: 'l', mark: 2 }, 'node-a');
    const seen = (await k.get('o1'))!;
    assert.equal([seen.owner, seen.accepted], ['node-a', { lifecycleId: 'l', mark: 2 }]);
    const [b, c] = await Promise.all([k.takeOver('o1', seen, 'node-b'), k.takeOver('o1', seen, 'node-c')]);
    assert.equal([b, c].filter(Boolean).length, 1, 'one instance takes it over');
    const after = (await k.get('o1'))!;
    assert.equal([after.owner, after.accepted, after.state], [b ? 'node-b' : 'node-c', { lifecycleId: 'l', mark: 2 }, 'pending']);
    await k.finish('o1', 200, '{}');
    assert.is(await k.takeOver('o1', after, 'node-d'), false, 'a final key is never taken over');
  });

  test('idempotency finish/forget with an owner → only while that instance runs the pending key; a final answer is never touched', async () => {
    const { s } = ctx();
    const k = s.idempotency;
    await k.begin('f1', 'h', 'node-a');
    await k.accept('f1', { lifecycleId: 'l', mark: 0 }, 'node-a');
    assert.ok(await k.takeOver('f1', (await k.get('f1'))!, 'node-b'));
    // node-a, thought dead and taken over, comes back with its late writes: they change nothing.
    await k.finish('f1', 201, '{"late":true}', 'node-a');
    await k.forget('f1', 'node-a');
    assert.equal([(await k.get('f1'))?.state, (await k.get('f1'))?.owner], ['pending', 'node-b']);
    await k.finish('f1', 201, '{"n":1}', 'node-b');
    assert.equal([(await k.get('f1'))?.status, (await k.get('f1'))?.body], [201, '{"n":1}']);
    await k.forget('f1', 'node-b');
    assert.is((await k.get('f1'))?.status, 201, 'forget never removes a final answer');
    // Not JSON: a final body is the client's answer, never read as a pending key's.
    await k.put('f2', { request_hash: 'x', status: 200, body: 'not json' });
    await k.finish('f2', 409, '{}', 'node-a');
    await k.forget('f2', 'node-a');
    assert.equal([(await k.get('f2'))?.status, (await k.get('f2'))?.body], [200, 'not json']);
    await k.begin('f3', 'h', 'node-a');
    await k.forget('f3', 'node-a');
    assert.is(await k.get('f3'), undefined);
  });

  test('idempotency release with an owner → pending, no owner, where it was accepted kept; only while that instance runs it; taken over once', async () => {
    const { s } = ctx();
    const k = s.idempotency;
    const at = { lifecycleId: 'l', mark: 4 };
    await k.begin('r1', 'h', 'node-a');
    await k.release('r1', at, 'node-b');
    assert.is((await k.get('r1'))?.owner, 'node-a', 'not node-b\'s to give up');
    await k.release('r1', at, 'node-a');
    const released = (await k.get('r1'))!;
    assert.equal([released.state, released.owner, released.accepted], ['pending', null, at]);
    const [b, c] = await Promise.all([k.takeOver('r1', released, 'node-b'), k.takeOver('r1', released, 'node-c')]);
    assert.equal([b, c].filter(Boolean).length, 1, 'one instance runs it again');
    assert.equal((await k.get('r1'))?.accepted, at);
    await k.put('r2', { request_hash: 'x', status: 200, body: 'not json' });
    await k.release('r2', at, 'node-a');
    await k.release('r2', at);
    assert.equal([(await k.get('r2'))?.status, (await k.get('r2'))?.body], [200, 'not json'], 'a final answer is never touched');
  });

  test('idempotency → first begin wins; pending, accepted, then final; put keeps what is stored; forget and prune', async () => {
    const { s } = ctx();
    const k = s.idempotency;
    assert.is(await k.begin('k1', 'h'), true);
    assert.is(await k.begin('k1', 'other'), false);
    assert.equal(await k.get('k1'), { request_hash: 'h', status: 202, body: 'null', state: 'pending', accepted: null, owner: null });
    await k.accept('k1', { lifecycleId: 'a', markSeq: 3 });
    assert.equal((await k.get('k1'))?.accepted, { lifecycleId: 'a', markSeq: 3 });
    assert.is((await k.get('k1'))?.body, '{"lifecycleId":"a","mark_seq":3}', 'an audit seq, under a field of its own: not read as a count');
    await k.finish('k1', 200, '{"ok":true}');
    assert.equal(await k.get('k1'), { request_hash: 'h', status: 200, body: '{"ok":true}', state: 'final', accepted: null, owner: null });
    await k.finish('k1', 500, 'late');
    assert.is((await k.get('k1'))?.status, 200, 'a final answer is never replaced');
    await k.put('k1', { request_hash: 'x', status: 201, body: 'b' });
    assert.is((await k.get('k1'))?.request_hash, 'h');
    await k.put('k2', { request_hash: 'x', status: 201, body: 'b' });
    assert.is((await k.get('k2'))?.status, 201);
    let threw = false;
    await k.put('k3', { request_hash: 'x', status: 202, body: 'b' }).catch(() => (threw = true));
    assert.ok(threw);
    await k.forget('k2');
    assert.is(await k.get('k2'), undefined);
    assert.is(await k.prune('2000-01-01T00:00:00.000Z'), 0);
    assert.is(await k.prune('9999-01-01T00:00:00.000Z'), 1);
    assert.is(await k.get('k1'), undefined);
  });
}
