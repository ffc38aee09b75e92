// Kill points of test/crash the scripted scenario passes but crash.test.ts does not name: an
// update (renumbering) killed after RADIUS moved to the new prefix, after the CPE did, before its
// CoA, and before the old block's release; a suspension before its CoA; a reactivation after its
// RADIUS reply was written back. Same runner, same checks (crash-checks.ts): converged, IPAM exact,
// no step lost, radreply and the CPE on the current prefix, the audit trail a chain.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createWarmPool, runCases, type CaseResult, type WarmPool } from '../support/crash-runner.ts';

const POINTS: Array<[why: string, kill: string]> = [
  ['update: radreply rewritten to the new prefix, not recorded', 'update.radius.write:after#1'],
  ['update: CPE moved to the new prefix, not recorded', 'update.cpe.configure:after#1'],
  ['update: CoA about to tell the NAS', 'update.sessions.notify:before#1'],
  ['update: the old block about to be freed', 'update.free:before#1'],
  ['suspension: CoA about to tell the NAS', 'suspend.sessions.notify:before#1'],
  ['reactivation: radreply written back, not recorded', 'reactivate.radius.write:after#1'],
  ['reactivation: CoA done, active not stored', 'reactivate.sessions.notify:after#1'],
];

const test = suite('review14: SIGKILL mid-update, mid-suspend, mid-reactivate → restart converges');
const results = new Map<string, CaseResult>();
let pool: WarmPool | null = null;

test.before(async () => {
  pool = createWarmPool(3, POINTS.length * 2);
  for (const r of await runCases(pool, POINTS.map(([, kill]) => ({ name: kill, kills: [kill] })), 2)) results.set(r.name, r);
});
test.after(() => pool?.drain());

for (const [why, kill] of POINTS) {
  test(`SIGKILL at ${kill} (${why}) → restart converges`, () => {
    const r = results.get(kill);
    assert.ok(r, 'case did not run');
    assert.ok(r!.problems.length === 0, r!.problems.join('\n'));
    assert.is(r!.notes.length, 1, 'the kill point was not reached');
    assert.ok((r!.resumed ?? 0) > 0, 'the kill left no step in flight for the restart to finish');
    assert.equal(r!.overlaps, [], 'a prefix was delegated twice');
  });
}

test.run();
