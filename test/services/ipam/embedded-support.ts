import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Test } from 'uvu';
import * as assert from 'uvu/assert';
import { ServiceError } from '../../../services/errors.ts';
import { createEmbeddedIpam } from '../../../services/ipam/embedded.ts';
import type { EmbeddedIpamOptions, EmbeddedPool } from '../../../services/ipam/pool-rules.ts';
import { blockSize, formatPrefix, fromHex, lastAddress, parsePrefix } from '../../../services/ipv6.ts';
import type { IpamPort } from '../../../services/ipam/port.ts';
import { openDatabase, type Db } from '../../../store/db.ts';

/** A fresh database file per test of the suite: `db()` is its open connection, `reopen()` closes it and opens it again. */
export function scratchDb(test: Test) {
  const ctx: { dir: string; file: string; db: Db | null } = { dir: '', file: '', db: null };
  test.before.each(() => {
    ctx.dir = mkdtempSync(join(tmpdir(), 'ipam-embedded-'));
    ctx.file = join(ctx.dir, 'lifecycle.db');
    ctx.db = openDatabase(ctx.file);
  });
  test.after.each(() => {
    if (ctx.db?.open) ctx.db.close();
    rmSync(ctx.dir, { recursive: true, force: true });
  });
  const db = (): Db => {
    if (!ctx.db) throw new Error('no db');
    return ctx.db;
  };
  return {
    db,
    file: () => ctx.file,
    reopen(pools: EmbeddedPool[], opts?: EmbeddedIpamOptions): IpamPort {
      db().close();
      ctx.db = openDatabase(ctx.file);
      return createEmbeddedIpam(ctx.db, pools, opts);
    },
  };
}

export function allocate(ipam: IpamPort, key: string, pool: string, prefixLength: number, lifecycleId = `lc-${key}`) {
  return ipam.allocate({ key, lifecycleId, subscriberId: `sub-${key}`, pool, prefixLength });
}

/** Gives the block back for good (free() releases it too): its hold-down starts now. */
export function release(ipam: IpamPort, key: string, pool: string, prefix: string, lifecycleId = `lc-${key}`) {
  return ipam.free({ lifecycleId, subscriberId: `sub-${key}`, pool, prefix, netboxPrefixId: null });
}

/** The revocation's release: quarantined, not reusable until free(). */
export function quarantine(ipam: IpamPort, key: string, pool: string, prefix: string, lifecycleId = `lc-${key}`) {
  return ipam.release({ lifecycleId, subscriberId: `sub-${key}`, pool, prefix, netboxPrefixId: null });
}

export async function rejectsWith(promise: Promise<unknown>, code: string): Promise<void> {
  try {
    await promise;
  } catch (err) {
    assert.instance(err, ServiceError);
    assert.is((err as ServiceError).code, code, (err as Error).message);
    return;
  }
  assert.unreachable(`expected ${code}`);
}

type Span = { kind: string; start: bigint; end: bigint };

/** Blocks, held-down blocks and free runs must tile the parent exactly, and no two free runs may touch (they are merged). */
export function assertTiles(db: Db, pool: { name: string; prefix: string }): void {
  const parent = parsePrefix(pool.prefix);
  const rows = (kind: string, table: string): Span[] =>
    (db.prepare(`SELECT start_hex, end_hex FROM ${table} WHERE pool = ?`).all(pool.name) as Array<{ start_hex: string; end_hex: string }>).map(
      (r) => ({ kind, start: fromHex(r.start_hex), end: fromHex(r.end_hex) }),
    );
  const runs = [...rows('block', 'ipam_allocations'), ...rows('held down', 'ipam_quarantine'), ...rows('free', 'ipam_free')];
  runs.sort((a, b) => (a.start < b.start ? -1 : 1));
  let next = parent.network;
  let previous = '';
  for (const r of runs) {
    assert.is(r.start, next, `a gap or an overlap at ${formatPrefix({ network: r.start, length: 128 })}`);
    assert.ok(!(r.kind === 'free' && previous === 'free'), 'two free runs touch');
    next = r.end + 1n;
    previous = r.kind;
  }
  assert.is(next, lastAddress(parent) + 1n);
}

/**
 * 800 random allocations of mixed lengths and releases in a /52, checked against a reference that
 * knows nothing of free runs or quarantine: per /64, the time it is free from (0 free, Infinity
 * allocated). The clock moves 0-2 s a step, so a 60 s hold-down keeps a few dozen blocks held down.
 */
export async function mixedLengthWalk(s: ReturnType<typeof scratchDb>, holdDownS: number): Promise<void> {
  const pool = { name: 'mix', prefix: '2001:db8:0:f000::/52', prefixLength: 56, holdDownS };
  const parent = parsePrefix(pool.prefix);
  const freeFrom = new Float64Array(4096);
  const unitOf = (prefix: string) => Number((parsePrefix(prefix).network - parent.network) / blockSize(64));
  const unitsOf = (prefix: string) => [unitOf(prefix), unitOf(prefix) + 2 ** (64 - parsePrefix(prefix).length)] as const;
  const clock = { t: Date.parse('2030-01-01T00:00:00Z') };
  const expectFirstFree = (length: number): string | null => {
    const width = 2 ** (64 - length);
    for (let at = 0; at < 4096; at += width) {
      if (freeFrom.subarray(at, at + width).every((u) => u <= clock.t)) return formatPrefix({ network: parent.network + BigInt(at) * blockSize(64), length });
    }
    return null;
  };
  let seed = 42;
  const random = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
  const lengths = [56, 56, 56, 57, 60, 62, 64, 64, 64, 52];
  const live: Array<{ key: string; prefix: string }> = [];
  const heldDown: Array<{ prefix: string; until: number }> = [];
  const opts = { now: () => clock.t };
  let ipam = createEmbeddedIpam(s.db(), [pool], opts);
  for (let step = 0; step < 800; step++) {
    clock.t += Math.floor(random() * 2000);
    if (step === 400) ipam = s.reopen([pool], opts);
    if (live.length > 0 && random() < 0.35) {
      const [gone] = live.splice(Math.floor(random() * live.length), 1);
      await release(ipam, gone!.key, 'mix', gone!.prefix);
      freeFrom.fill(clock.t + holdDownS * 1000, ...unitsOf(gone!.prefix));
      heldDown.push({ prefix: gone!.prefix, until: clock.t + holdDownS * 1000 });
      continue;
    }
    const length = lengths[Math.floor(random() * lengths.length)]!;
    const expected = expectFirstFree(length);
    const key = `s${step}`;
    if (expected === null) {
      await rejectsWith(allocate(ipam, key, 'mix', length), 'pool_exhausted');
      continue;
    }
    const got = await allocate(ipam, key, 'mix', length);
    assert.is(got.prefix, expected, `step ${step}: first free /${length}`);
    freeFrom.fill(Infinity, ...unitsOf(got.prefix));
    live.push({ key, prefix: got.prefix });
  }
  const stillHeld = heldDown.filter((h) => h.until > clock.t).length;
  if (holdDownS > 0) assert.ok(stillHeld > 5, `only ${stillHeld} blocks held down at the end: the walk does not exercise the hold-down`);
  // Utilization counts address space: every /56 of which any /64 is taken or still held down.
  const per56 = 2 ** (64 - pool.prefixLength);
  let units = 0;
  for (let at = 0; at < 4096; at += per56) if (freeFrom.subarray(at, at + per56).some((u) => u > clock.t)) units++;
  assert.is((await ipam.utilization())[0]?.allocated, units);
  assertTiles(s.db(), pool);
}
