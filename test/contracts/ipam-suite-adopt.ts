// The IPAM contract's adoption part (ipam-suite.ts): adopt() takes over a block the field already uses,
// run in the same suite against every implementation.
import type { Test } from 'uvu';
import * as assert from 'uvu/assert';
import type { ErrorCode, ServiceError } from '../../services/errors.ts';
import type { Allocation, IpamPort } from '../../services/ipam/port.ts';
import { markedUnder } from '../../services/ipam/marked.ts';

/** What the suite of ipam-suite.ts lends its parts: the IPAM under test and its helpers. */
export interface IpamContractTools {
  ipam(): IpamPort;
  allocate(key: string, opts?: { pool?: string; length?: number; lifecycle?: string }): Promise<Allocation>;
  /** Gives the block back for good: free() releases it too. */
  release(a: Allocation, lifecycleId: string, pool?: string): Promise<void>;
  allocatedIn(pool: string): Promise<number>;
  rejects(promise: Promise<unknown>, code: ErrorCode, field?: string): Promise<ServiceError>;
  /** The pool the tests allocate from unless they name another. */
  main: string;
}

export function ipamAdoptContract(test: Test, tools: IpamContractTools): void {
  const { ipam, allocate, release, allocatedIn, rejects, main: MAIN } = tools;
  const adopt = (key: string, prefix: string, lifecycle = `lc-${key}`) =>
    ipam().adopt({ key, lifecycleId: lifecycle, subscriberId: `sub-${key}`, pool: MAIN, prefix });

  test('adopt() records a block of the field under the key, as an allocation under it; again, it is the same', async () => {
    const a = await adopt('a0', '2001:db8:0:300::/56');
    assert.equal([a.prefix, a.prefixLength], ['2001:db8:0:300::/56', 56]);
    assert.equal(await adopt('a0', '2001:db8:0:300::/56'), a);
    assert.equal(await ipam().allocatedUnder({ key: 'a0', lifecycleId: 'lc-a0', pool: MAIN }), [a]);
    assert.equal(await allocate('a0'), a, 'an allocation under the key is the adopted block');
    const marked = (await ipam().markedPrefixes()).filter((m) => m.prefix === a.prefix);
    assert.equal(marked.map((m) => [m.lifecycleId, markedUnder(m, 'a0')]), [['lc-a0', true]]);
    assert.is(await allocatedIn(MAIN), 1);
  });

  test('adopt() takes the block out of the free space: allocations go around it, and free() gives it back', async () => {
    const a = await adopt('a1', '2001:db8:0:100::/56');
    assert.equal([(await allocate('n0')).prefix, (await allocate('n1')).prefix], ['2001:db8::/56', '2001:db8:0:200::/56']);
    await release(a, 'lc-a1');
    assert.is((await allocate('n2')).prefix, '2001:db8:0:100::/56');
  });

  test('adopt() refuses a block another lifecycle holds, and a block outside the pool', async () => {
    const held = await allocate('other');
    await rejects(adopt('a2', held.prefix), 'idempotency_mismatch', 'prefix');
    await rejects(adopt('a3', '2001:db9::/56'), 'validation_error', 'prefix');
    assert.is(await allocatedIn(MAIN), 1);
  });
}
