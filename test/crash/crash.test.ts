// Acceptance of crash safety: a process killed with SIGKILL at any point restarts and finishes what
// was in flight, with every outside call safe to repeat. Each case kills the child at a named point
// of allocation, activation, update or revocation (or at a random moment), restarts it, and checks
// the files: every lifecycle converged, no prefix held twice or lost, no step lost, audit in order.
import { createHash } from 'node:crypto';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createWarmPool, runCases, type CaseResult, type CrashCase, type WarmPool } from '../support/crash-runner.ts';

/** Named kill points: `label#n` kills at the n-th time the child passes `label` (see crash-probe.ts). */
const POINTS: Array<[why: string, kill: string]> = [
  ['allocation not started: lifecycle stored pending, IPAM untouched', 'ipam.allocate:before#2'],
  ['IPAM committed the allocation, the lifecycle never heard back', 'ipam.allocate:after-commit#3'],
  // With group commit, allocations that finish in one turn are stored in one batch: kill just before it.
  ['allocations committed in IPAM, the batch recording them not yet written', 'store.save:before>allocated#1'],
  ['activation: CPE configured, lifecycle not yet active', 'activate.cpe.configure:after#1'],
  ['revocation accepted and stored, nothing given back yet', 'store.save:after>revoking#1'],
  ['revocation: IPAM release committed, not recorded', 'ipam.release:after-commit#1'],
  ['revocation: quarantined prefix freed, not recorded', 'revoke.free:after-commit#1'],
  ['revocation: RADIUS reply removed, not recorded', 'revoke.radius.remove:after#1'],
  ['revocation: CPE removal about to run', 'cpe.remove:before#1'],
  ['revocation: every outside step done, revoked not stored', 'store.save:before>revoked#1'],
  ['update: new block committed in IPAM, not recorded', 'update.allocate:after-commit#1'],
  ['update: old block released and freed, not recorded', 'update.free:after-commit#1'],
  ['suspension: RADIUS reply removed, not recorded', 'suspend.radius.remove:after#1'],
];

/** Killed again while recovering, at the very call the first crash forces it to repeat. */
const DOUBLE: Array<[why: string, kills: string[]]> = [
  ['update allocation committed twice, recorded never', ['update.allocate:after-commit#1', 'update.allocate:after-commit#1']],
  ['revocation release committed, and again in recovery', ['ipam.release:after-commit#1', 'revoke.release:after-commit#1']],
];

const RANDOM_SEEDS = [1, 2, 3];
const CONCURRENCY = 2;
/** `CRASH_ONLY=update` runs only the cases whose name contains it (and the run without a kill). */
const only = process.env.CRASH_ONLY;
const picked = (name: string) => !only || name.includes(only);

/** A fraction in [0, 1) fixed by the seed, so a failing random case can be run again with its delay. */
const fraction = (seed: number) => createHash('sha256').update(`crash-${seed}`).digest().readUInt32BE(0) / 2 ** 32;

const test = suite('crash: SIGKILL at any point, restart, converge');
const named: CrashCase[] = [...POINTS.map(([, kill]) => ({ name: kill, kills: [kill] })), ...DOUBLE.map(([, kills]) => ({ name: kills.join(' then '), kills }))].filter(
  (c) => picked(c.name),
);
const randomSeeds = RANDOM_SEEDS.filter((seed) => picked(`random seed ${seed}`));
const results = new Map<string, CaseResult>();
let pool: WarmPool | null = null;
let baseline: CaseResult | null = null;

test.before(async () => {
  const total = 2 + named.reduce((n, c) => n + c.kills.length + 1, 0) + randomSeeds.length * 2;
  pool = createWarmPool(CONCURRENCY + 1, total);
  // The run without a kill gives the scenario's length, over which the random kills are spread.
  baseline = (await runCases(pool, [{ name: 'no kill', kills: [] }], 1))[0] ?? null;
  const span = Math.max(20, baseline!.scenarioMs ?? 200);
  // Stratified: seed i of n kills somewhere in the i-th n-th of the scenario, so the kills spread out.
  const random: CrashCase[] = randomSeeds.map((seed, i) => {
    const randomMs = Math.round(((i + fraction(seed)) / randomSeeds.length) * span);
    return { name: `random seed ${seed}: kill at ${randomMs} ms`, kills: [{ randomMs }] };
  });
  for (const r of await runCases(pool, [...named, ...random], CONCURRENCY)) results.set(r.name, r);
});

test.after(() => {
  pool?.drain();
  const lines = [...(baseline ? [baseline] : []), ...results.values()].map((r) => {
    const died = r.runs.filter((x) => x.signal === 'SIGKILL').length;
    return `  ${r.problems.length ? 'FAIL' : 'ok  '} ${r.name.padEnd(62)} killed ${died}x, resumed ${r.resumed ?? '?'}, repeated calls ${r.repeated.length}, final ${JSON.stringify(r.states)}`;
  });
  console.log(`\ncrash kill points exercised:\n${lines.join('\n')}`);
});

test('the scenario runs to the end without a kill, and a restart finds nothing to resume', () => {
  assert.ok(baseline, 'baseline did not run');
  assert.ok(baseline!.problems.length === 0, baseline!.problems.join('\n'));
  assert.is(baseline!.resumed, 0);
});

for (const [why, kill] of POINTS.filter(([, kill]) => picked(kill))) {
  test(`SIGKILL at ${kill} (${why}) → restart converges`, () => {
    const r = results.get(kill);
    assert.ok(r, 'case did not run');
    assert.ok(r!.problems.length === 0, r!.problems.join('\n'));
    assert.ok((r!.resumed ?? 0) > 0, 'the kill left no step in flight for the restart to finish');
  });
}

for (const [why, kills] of DOUBLE.filter(([, kills]) => picked(kills.join(' then ')))) {
  test(`SIGKILL at ${kills[0]}, then in recovery at ${kills[1]} (${why}) → converges`, () => {
    const r = results.get(kills.join(' then '));
    assert.ok(r, 'case did not run');
    assert.ok(r!.problems.length === 0, r!.problems.join('\n'));
    assert.ok(r!.repeated.length > 0, 'the second crash should have forced a repeated outside call');
  });
}

/**
 * Revocation releases the block in IPAM first (the mission's order) and withdraws it from RADIUS,
 * the sessions and the CPE afterwards. A restart resumes such revocations while new requests are
 * already served, so without a hold-down first fit could hand the freed block to the next
 * allocation while the revoked subscriber's CPE still delegates it. The embedded IPAM's hold-down
 * (`pools[].hold_down_s`, default 600 s) keeps a released block out of reach until that is over.
 */
test('no prefix is delegated to two subscribers at once, even across a restart', () => {
  const overlaps = [baseline, ...results.values()].flatMap((r) => (r ? r.overlaps.map((o) => `${r.name}: ${o}`) : []));
  assert.ok(overlaps.length === 0, `a prefix was delegated twice:\n${overlaps.join('\n')}`);
});

test('SIGKILL at random moments of the scenario (several seeds) → restart converges', () => {
  const random = [...results.values()].filter((r) => r.name.startsWith('random'));
  assert.is(random.length, randomSeeds.length);
  for (const r of random) assert.ok(r.problems.length === 0, `${r.name}:\n${r.problems.join('\n')}`);
});

test.run();
