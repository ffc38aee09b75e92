// The at-once scenario of test/crash (a burst of 50 allocations through HTTP) killed while the group
// commit holds the burst's largest batches: the 40th allocation of one transaction written,
// none committed, and the batch that recorded them committed with no client told. Same runner and
// checks (crash-atonce-checks.ts): every 201 kept, IPAM exact, a key sent again costs no second prefix.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { checkAtOnce } from '../support/crash-atonce-checks.ts';
import { createWarmPool, runCases, type CaseResult, type WarmPool } from '../support/crash-runner.ts';

const KILLS = ['ipam.allocateNow:after-write[40]#1', 'atonce.batch:after-commit#2'];
const test = suite('review14: SIGKILL while the group commit holds a batch of up to 50 allocations');
const results = new Map<string, CaseResult>();
let pool: WarmPool | null = null;

test.before(async () => {
  pool = createWarmPool(3, KILLS.length * 2);
  const cases = KILLS.map((kill) => ({ name: kill, kills: [kill], scenario: 'atonce' as const, check: checkAtOnce }));
  for (const r of await runCases(pool, cases, 2)) results.set(r.name, r);
});
test.after(() => pool?.drain());

for (const kill of KILLS) {
  test(`SIGKILL at ${kill} → every 201 kept, IPAM exact, nothing allocated twice`, () => {
    const r = results.get(kill);
    assert.ok(r, 'case did not run');
    assert.ok(r!.problems.length === 0, r!.problems.join('\n'));
    assert.is(r!.notes.length, 1, 'the kill point was not reached');
    if (kill.includes('after-write')) assert.is(r!.notes[0]!.batch?.length, Number(/\[(\d+)\]/.exec(kill)![1]), 'allocations in the killed transaction');
  });
}

test.run();
