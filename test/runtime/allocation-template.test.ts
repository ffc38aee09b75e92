import { isDeepStrictEqual } from 'node:util';
import pino from 'pino';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { assign } from 'xstate';
import { allocated as allocatedPatch } from '../../machines/context.ts';
import { prefixLifecycle, type PrefixLifecycleMachine } from '../../machines/prefix-lifecycle.ts';
import type { AllocateInput, Allocation, IpamKind, LifecycleContext, LifecycleInput, Stamped } from '../../machines/types.ts';
import { ActorHost } from '../../runtime/actor-host.ts';
import type { AllocationTemplate } from '../../runtime/allocation-template.ts';
import { allocateAtOnce, checkedTemplate, type AtOnce } from '../../runtime/at-once.ts';
import { loggerOptions } from '../../runtime/log-context.ts';
import { resourceOf, toResource } from '../../runtime/projection.ts';
import { createAllocateNow, createStepActors } from '../../runtime/step-actors.ts';
import { createEmbeddedIpam } from '../../services/ipam/embedded.ts';
import { openDatabase } from '../../store/db.ts';
import { createLifecycleStore } from '../../store/lifecycles.ts';
import { asyncOf } from '../../store/port.ts';
import { createRandom, type Random } from '../support/soak-random.ts';

const test = suite('allocation template: the allocation made at once without XState, as XState makes it');

// Characters that JSON, SQLite text and the audit codec each treat apart.
const ODD = ['"', '\\', '/', "'", '\u0000', '\u001f', '\u2028', '\u2029', 'é', '𝄞', '😀', '\ud800', ' ', '\n', '\t', '%', '{', '}', ':', ',', '.'];
const WORDS = ['__proto__', 'constructor', 'toString', 'hasOwnProperty', '', 'null', 'undefined', '0', '-1', 'sub'];
const IPAMS: IpamKind[] = ['embedded', 'netbox', 'fake'];

function oddString(r: Random, max = 24): string {
  if (r.chance(0.15)) return r.pick(WORDS);
  let s = '';
  const n = r.int(0, max);
  for (let i = 0; i < n; i++) s += r.chance(0.4) ? r.pick(ODD) : String.fromCharCode(r.int(0x20, 0x7e));
  return s;
}

const hex = (r: Random, n: number) => Array.from({ length: n }, () => r.int(0, 15).toString(16)).join('');
const isoAt = (r: Random) => new Date(r.pick([0, 1, 946684800000, 1767225600000, 253402300799999]) + r.int(0, 10 ** 9) * r.int(0, 1)).toISOString();

/** One generated allocation: the lifecycle's input, the IPAM's stamped answer, the host's clock. */
function generated(r: Random): { input: LifecycleInput; output: Stamped<Allocation>; now: string } {
  const lifecycleId = r.chance(0.7) ? `0190a000-${hex(r, 4)}-7000-8000-${hex(r, 12)}` : oddString(r);
  const fields: [keyof LifecycleInput, unknown][] = [
    ['lifecycleId', lifecycleId],
    ['subscriberId', oddString(r, 40)],
    ['pool', r.chance(0.5) ? 'p' : oddString(r)],
    ['prefixLength', r.int(40, 64)],
    ['ipam', r.pick(IPAMS)],
  ];
  // The service's inputs have these keys in this order; another order takes initialContext()'s other path.
  const input = Object.fromEntries(r.chance(0.1) ? r.shuffle(fields) : fields) as unknown as LifecycleInput;
  const prefixLength = r.chance(0.8) ? input.prefixLength : r.int(40, 64);
  const result: Allocation & Record<string, unknown> = {
    prefix: r.chance(0.9) ? `2001:db8:${hex(r, 4)}::/${prefixLength}` : oddString(r),
    prefixLength,
    netboxPrefixId: r.chance(0.5) ? null : r.int(0, 2 ** 31),
  };
  // What an IPAM could answer besides the port's fields: the audit entry's output keeps it, the context does not.
  if (r.chance(0.1)) result.blockId = r.int(0, 99);
  if (r.chance(0.05)) delete (result as Partial<Allocation>).netboxPrefixId;
  const output: Stamped<Allocation> = { at: isoAt(r), result };
  if (r.chance(0.05)) output.skipped = 'no IPAM';
  return { input, output, now: isoAt(r) };
}

/** An allocation made at once one way, and what its step was asked. */
function made(machine: PrefixLifecycleMachine, template: AllocationTemplate | null, g: ReturnType<typeof generated>) {
  const asked: AllocateInput[] = [];
  const out: AtOnce | null = allocateAtOnce(machine, g.input, (a) => (asked.push(a), { output: g.output, report: () => {} }), { template, now: () => g.now });
  return { out, asked };
}

test('many generated allocations: rows, audit entries (bytes), details, the answer and the step input are XState\'s', () => {
  const { template, mismatch } = checkedTemplate(prefixLifecycle);
  assert.is(mismatch, null);
  assert.ok(template);
  const seed = 10_005;
  const r = createRandom(seed);
  for (let i = 0; i < 1000; i++) {
    const g = generated(r);
    const xs = made(prefixLifecycle, null, g);
    const tp = made(prefixLifecycle, template, g);
    assert.ok(xs.out && tp.out, `case ${i} (seed ${seed}) made both ways`);
    const [x, t] = [xs.out, tp.out].map((o) => ({ transitions: o.transitions, value: o.snapshot.value, context: o.snapshot.context }));
    // Field for field (undefined values, prototypes) and byte for byte (key order: what is stored follows it).
    assert.ok(isDeepStrictEqual(x, t), `case ${i} (seed ${seed}): ${JSON.stringify(g)}`);
    assert.is(JSON.stringify(t), JSON.stringify(x), `case ${i} (seed ${seed})`);
    for (const k of [0, 1] as const) {
      assert.is(tp.out.transitions[k].row.snapshot, xs.out.transitions[k].row.snapshot);
      assert.is(tp.out.transitions[k].audit.detail, xs.out.transitions[k].audit.detail);
    }
    assert.equal(tp.asked, xs.asked, 'the step is asked the same');
  }
});

test('the generated allocations reach what the comparison must see: every IPAM, lengths answered apart, NetBox ids, skipped, odd ids', () => {
  // Without this, a generator that lost a branch would still pass the comparison above.
  const r = createRandom(10_005);
  const seen = new Set<string>();
  for (let i = 0; i < 1000; i++) {
    const { input, output } = generated(r);
    seen.add(`ipam:${input.ipam}`);
    if (output.result.prefixLength !== input.prefixLength) seen.add('other length');
    if (output.result.netboxPrefixId !== null && output.result.netboxPrefixId !== undefined) seen.add('netbox id');
    if (!('netboxPrefixId' in output.result)) seen.add('no netbox id key');
    if (output.skipped) seen.add('skipped');
    if (/["\\\u0000\u2028]/.test(input.subscriberId)) seen.add('odd subscriber');
    if (Object.keys(input)[0] !== 'lifecycleId') seen.add('other key order');
  }
  assert.equal([...seen].sort(), ['ipam:embedded', 'ipam:fake', 'ipam:netbox', 'netbox id', 'no netbox id key', 'odd subscriber', 'other key order', 'other length', 'skipped']);
});

/** The machine with its allocation recorded otherwise: `extra` is added to the allocated context. */
const differing = (extra: Record<string, unknown>) =>
  prefixLifecycle.provide({
    actions: { recordAllocation: assign(({ context }, p: { output: Stamped<Allocation> }) => ({ ...allocatedPatch(context as LifecycleContext, p.output), ...extra })) as never },
  });

test('the start-up check finds a machine whose allocated state differs from the template', () => {
  for (const extra of [{ reason: 'recorded otherwise' }, { extraField: 1 }, { unconfirmed: [] as unknown[] }]) {
    const { template, mismatch } = checkedTemplate(differing(extra));
    if ('unconfirmed' in extra) {
      // The same values written again: nothing differs, the template is good.
      assert.ok(template);
      assert.is(mismatch, null);
      continue;
    }
    assert.is(template, null, JSON.stringify(extra));
    assert.match(mismatch ?? '', Object.keys(extra)[0]!);
  }
});

/** A host on its own database with the embedded IPAM; `getInitialSnapshot` calls of its machine counted. */
function host(machine: PrefixLifecycleMachine, atOnce = true) {
  const db = openDatabase(':memory:');
  const store = createLifecycleStore(db);
  const ipam = createEmbeddedIpam(db, [{ name: 'p', prefix: '2001:db8::/40', prefixLength: 56 }]);
  const lines: Record<string, unknown>[] = [];
  const log = pino(loggerOptions('info'), { write: (line: string) => void lines.push(JSON.parse(line) as Record<string, unknown>) });
  const AT = new Date('2026-01-02T03:04:05.678Z');
  const actors = createStepActors(
    { ipam, replies: null, sessions: null, cpe: null },
    {
      retry: { attempts: 1, baseMs: 0, maxMs: 0, retryAfterMaxMs: 0 },
      sessionAction: { suspend: 'disconnect', revoke: 'disconnect', reactivate: 'coa', update: 'coa' },
      log,
      now: () => AT,
      ipamKind: () => 'embedded',
      afterCommit: () => h.afterCommit(),
    },
  );
  const provided = machine.provide({ actors });
  const counts = { initial: 0 };
  const initial = provided.getInitialSnapshot.bind(provided);
  provided.getInitialSnapshot = ((...a: Parameters<typeof initial>) => (counts.initial++, initial(...a))) as typeof initial;
  const h: ActorHost = new ActorHost({
    store: asyncOf(store),
    sqlite: store,
    machine: provided,
    log,
    idleMs: 60_000,
    allocateNow: atOnce ? createAllocateNow({ ipam }, { now: () => AT, ipamKind: () => 'embedded' }) : null,
  });
  return { host: h, store, lines, counts, close: () => (h.stopAll(), db.close()) };
}

const input = (n: number): LifecycleInput => ({ lifecycleId: `0190a000-0000-7000-8000-${String(n).padStart(12, '0')}`, subscriberId: `sub-${n}`, pool: 'p', prefixLength: 56, ipam: 'embedded' });
const withoutTimes = (o: object) => ({ ...o, created_at: '-', updated_at: '-', at: '-' });
const warnings = (lines: Record<string, unknown>[]) => lines.filter((l) => l.level === 'warn');

test('the host uses the template once the check passed: XState runs only for the check', async () => {
  const h = host(prefixLifecycle);
  assert.is((await h.host.createAtOnce(input(1)))?.row.state, 'allocated');
  // The check ran XState (the inert actor, the template, each canary), on the first allocation only.
  const checked = h.counts.initial;
  assert.ok(checked > 0);
  for (let n = 2; n <= 6; n++) assert.is((await h.host.createAtOnce(input(n)))?.row.state, 'allocated');
  assert.is(h.counts.initial, checked, 'no XState initial snapshot per allocation');
  assert.equal(warnings(h.lines), []);
  h.close();
});

test('a machine whose allocated state differs: the host warns once, goes through XState, and answers as the actor would', async () => {
  const machine = differing({ reason: 'recorded otherwise' });
  const fast = host(machine);
  const slow = host(machine, false);
  const made = await fast.host.createAtOnce(input(1));
  assert.ok(made);
  const first = fast.counts.initial;
  await fast.host.createAtOnce(input(2));
  await fast.host.createAtOnce(input(3));
  assert.is(fast.counts.initial, first + 2, 'XState for each allocation');
  const warned = warnings(fast.lines);
  assert.is(warned.length, 1);
  assert.match(String(warned[0]!.mismatch), 'recorded otherwise');
  assert.is(made.snapshot.context.reason, 'recorded otherwise', 'the answer is the machine\'s own');
  slow.host.create(input(1));
  assert.ok((await slow.host.settle(input(1).lifecycleId, 5000)).settled);
  assert.equal(withoutTimes(fast.store.get(input(1).lifecycleId)!), withoutTimes(slow.store.get(input(1).lifecycleId)!));
  assert.equal(fast.store.events('sub-1').map(withoutTimes), slow.store.events('sub-1').map(withoutTimes));
  assert.equal(resourceOf(made.row, made.snapshot.context), toResource(fast.store.get(input(1).lifecycleId)!));
  fast.close();
  slow.close();
});

test.run();
