import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { CpePort, CpeResult } from '../../services/genieacs/port.ts';

/** A fresh CPE port and a way to look at the CPEs behind it without going through the port. */
export interface CpeHarness {
  port: CpePort;
  /** A CPE the implementation knows, with PD off; `online: false` → it answers no connection request. */
  addCpe(online: boolean): Promise<string> | string;
  /** The CPE comes back (for an ACS: it informs, and its session runs whatever the ACS holds for it). */
  bringOnline(id: string): Promise<void> | void;
  /** The CPE stops answering connection requests. */
  takeOffline(id: string): Promise<void> | void;
  /** Whether DHCPv6-PD is on at the CPE. */
  pdEnabled(id: string): Promise<boolean>;
  /** How many tasks the ACS holds for the CPE; absent where the implementation keeps no queue. */
  heldTasks?(id: string): Promise<number>;
  close(): Promise<void> | void;
}

const PREFIX = '2001:db8:100::/56';

/** Registers one suite of port-only assertions against a CPE port; `make` runs before each test. */
export function cpeContract(name: string, make: () => Promise<CpeHarness>): void {
  const ctx: { h: CpeHarness | null } = { h: null };
  const test = suite(`CpePort contract: ${name}`);
  test.before.each(async () => {
    ctx.h = await make();
  });
  test.after.each(async () => {
    await ctx.h?.close();
    ctx.h = null;
  });
  const h = (): CpeHarness => {
    if (!ctx.h) throw new Error('no harness: before.each did not run');
    return ctx.h;
  };
  const configure = (cpeId: string, key = 'lc-1:configurePd:1') => h().port.configurePd({ key, cpeId, prefix: PREFIX });
  const remove = (cpeId: string, key = 'lc-1:removeIpv6:1') => h().port.removeIpv6({ key, cpeId });
  const held = async (id: string, want: number, why: string) => {
    if (h().heldTasks) assert.is(await h().heldTasks!(id), want, why);
  };
  const isQueued = (r: CpeResult) => {
    assert.is(r.status, 'queued');
    if (r.status === 'queued') assert.ok(r.taskId === null || (typeof r.taskId === 'string' && r.taskId.length > 0), 'taskId is a non-empty string or null');
  };

  test('configurePd() on an online CPE → done, and PD is on', async () => {
    const id = await h().addCpe(true);
    assert.is(await h().pdEnabled(id), false, 'PD starts off');
    assert.equal(await configure(id), { status: 'done' });
    assert.is(await h().pdEnabled(id), true);
    await held(id, 0, 'nothing is left at the ACS');
  });

  test('removeIpv6() after configurePd() → done, and PD is off', async () => {
    const id = await h().addCpe(true);
    await configure(id);
    assert.equal(await remove(id), { status: 'done' });
    assert.is(await h().pdEnabled(id), false);
  });

  test('configurePd() and removeIpv6() repeated with the same key → done each time, same end state', async () => {
    const id = await h().addCpe(true);
    assert.equal(await configure(id), { status: 'done' });
    assert.equal(await configure(id), { status: 'done' });
    assert.is(await h().pdEnabled(id), true);
    assert.equal(await remove(id), { status: 'done' });
    assert.equal(await remove(id), { status: 'done' });
    assert.is(await h().pdEnabled(id), false);
    await held(id, 0, 'nothing is left at the ACS');
  });

  test('removeIpv6() on a CPE that never had PD → done, PD stays off', async () => {
    const id = await h().addCpe(true);
    assert.equal(await remove(id, 'lc-2:removeIpv6:1'), { status: 'done' });
    assert.is(await h().pdEnabled(id), false);
  });

  test('offline CPE: configurePd() → queued; repeated → queued without piling up; online, a later call → done', async () => {
    const id = await h().addCpe(false);
    isQueued(await configure(id));
    isQueued(await configure(id));
    isQueued(await configure(id));
    await held(id, 1, 'three submissions with one key leave one task');
    await h().bringOnline(id);
    assert.equal(await configure(id), { status: 'done' });
    assert.is(await h().pdEnabled(id), true);
    await held(id, 0, 'nothing is left at the ACS');
  });

  test('offline CPE: configurePd() then removeIpv6() queued; online → PD is off, in that order', async () => {
    const id = await h().addCpe(false);
    isQueued(await configure(id));
    isQueued(await remove(id));
    await h().bringOnline(id);
    assert.is(await h().pdEnabled(id), false, 'the later removal wins over the earlier configuration');
    assert.equal(await remove(id), { status: 'done' });
    assert.is(await h().pdEnabled(id), false);
    await held(id, 0, 'nothing is left at the ACS');
  });

  test('removeIpv6() for a CPE that went offline with PD on → queued; back online → PD is off', async () => {
    const id = await h().addCpe(true);
    await configure(id);
    await h().takeOffline(id);
    isQueued(await remove(id));
    await h().bringOnline(id);
    assert.equal(await remove(id), { status: 'done' });
    assert.is(await h().pdEnabled(id), false);
    await held(id, 0, 'nothing is left at the ACS');
  });

  test('CPEs are independent: configuring one leaves another off', async () => {
    const a = await h().addCpe(true);
    const b = await h().addCpe(true);
    await configure(a);
    assert.is(await h().pdEnabled(a), true);
    assert.is(await h().pdEnabled(b), false);
  });

  test.run();
}
