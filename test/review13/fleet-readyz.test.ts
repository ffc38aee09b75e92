// Review 13, several instances: /readyz is what a load balancer or an orchestrator polls, often
// seconds apart. Each answer must say how the database is when it is asked, not what a probe found
// at the previous call: down, the first call after says 503; back, the first call after says 200.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { sleep } from '../support/instances.ts';
import { on, reviewRig, rig, why } from '../e2e/instances-review-support.ts';

const test = suite('review13: /readyz of each instance, polled seconds apart, across a PostgreSQL restart');
const up = reviewRig(test);

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};
const readyz = async (i: number) => {
  const r = await fetch(`${on(i).origin}/readyz`);
  return `${r.status} ${await r.text()}`;
};

test('PostgreSQL stopped, then started again: the first /readyz after each, seconds later, tells it (503, then 200)', async () => {
  if (!(await up())) return;
  assert.match(await readyz(0), /^200 /);
  await sleep(1500);
  const postmaster = rig!.cluster.pid;
  process.kill(postmaster, 'SIGINT');
  while (alive(postmaster)) await sleep(50);
  await sleep(1500);
  const down = await readyz(0);
  await sleep(1500);
  await rig!.cluster.restart();
  await sleep(1500);
  const back = await readyz(0);
  assert.match(down, /^503 /, `PostgreSQL is down: ${down}${why()}`);
  assert.match(back, /^200 /, `PostgreSQL is back: ${back}${why()}`);
});

test.run();
