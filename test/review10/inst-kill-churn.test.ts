// Several instances on PostgreSQL, killed mid-operation, as an ISP meets it: three instances on one
// database with the embedded IPAM on it, a few hundred subscribers driven concurrently through
// allocate / activate / suspend / reactivate / revoke over HTTP (some hit on two instances at once,
// a request cut off by a kill retried on another instance under its Idempotency-Key, as a load
// balancer would), one instance SIGKILLed at random moments and started again. Then, with all up
// for a few leases: no prefix twice, none leaked, nothing transient, one live lifecycle per
// subscriber, every acknowledged answer's effect present, every audit trail one chain.
//   CHURN_SUBSCRIBERS (300), CHURN_KILLS (8), CHURN_CLIENTS (24)
import { randomUUID } from 'node:crypto';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { LEASE_MS, startRig, type Rig } from '../support/instances-config.ts';
import { invariantDb, type InvariantDb } from '../support/instances-db.ts';
import { sleep, type Answer, type Instance } from '../support/instances.ts';
import { postgresAvailable } from '../support/postgres.ts';
import { fleetProblems, transient } from './inst-churn-checks.ts';

const SUBSCRIBERS = Number(process.env.CHURN_SUBSCRIBERS ?? 300);
const KILLS = Number(process.env.CHURN_KILLS ?? 8);
const CLIENTS = Number(process.env.CHURN_CLIENTS ?? 24);
const SETTLE_MS = 20 * LEASE_MS;

const test = suite('review10: three instances on PostgreSQL, SIGKILLed at random mid-operation');
let rig: Rig | null = null;
let db: InvariantDb | null = null;
test.after(async () => {
  await db?.close();
  await rig?.close();
});

type Op = 'allocate' | 'activate' | 'suspend' | 'reactivate' | 'revoke';
/** The operations that make sense from a state the client believes in (null: it does not know). */
const NEXT: Record<string, Op[]> = {
  none: ['allocate'],
  allocated: ['activate', 'revoke'],
  active: ['suspend', 'revoke', 'suspend'],
  suspended: ['reactivate', 'revoke'],
  revoked: ['allocate'],
  unknown: ['allocate', 'activate', 'suspend', 'reactivate', 'revoke'],
};

interface Sub {
  id: string;
  cpe: string;
  /** What the last acknowledged (200/201) answer said, or null once an answer was lost or 202. */
  believed: { state: string; prefix: string | null } | null;
  /** The client's idea of the state, for picking the next operation. */
  guess: string;
}

const pick = <T>(xs: readonly T[]): T => xs[Math.floor(Math.random() * xs.length)]!;
const tally = new Map<string, number>();
const count = (k: string) => tally.set(k, (tally.get(k) ?? 0) + 1);
/** Every key sent: the operation, the subscriber, and what each attempt got (for a failure message). */
const keys = new Map<string, string[]>();

function body(op: Op, s: Sub): Record<string, unknown> {
  if (op === 'activate') return { subscriber_id: s.id, username: `${s.id}@isp`, cpe_id: s.cpe };
  return { subscriber_id: s.id };
}

/** One request with a key; cut off by a kill, the same key and body again on another instance. */
async function send(op: Op, s: Sub, first: Instance): Promise<Answer | null> {
  const key = randomUUID();
  const instances = rig!.fleet.instances;
  const seen = [`${op} ${s.id}`];
  keys.set(key, seen);
  let via = first;
  for (let attempt = 0; attempt < 4; attempt++) {
    const at = new Date().toISOString().slice(11, 23);
    try {
      const a = await via.call('POST', `${op}?wait=3000`, body(op, s), { 'idempotency-key': key });
      seen.push(`${at} ${via.name} → ${a.status} ${a.body?.state ?? a.body?.error?.code ?? ''}`);
      if (a.status < 500) return a;
      count(`${op} ${a.status}`);
    } catch {
      seen.push(`${at} ${via.name} → cut off`);
      count(`${op} cut off`);
    }
    via = instances[(instances.indexOf(via) + 1 + attempt) % instances.length]!;
    await sleep(100);
  }
  return null;
}

function learn(s: Sub, op: Op, a: Answer | null): void {
  if (!a) {
    count(`${op} lost`);
    s.believed = null;
    s.guess = 'unknown';
    return;
  }
  count(`${op} ${a.status}`);
  if (a.status === 200 || a.status === 201) {
    s.believed = { state: a.body.state, prefix: a.body.prefix ?? null };
    s.guess = a.body.state;
  } else if (a.status === 202) {
    s.believed = null;
    s.guess = 'unknown';
  } else if (a.status === 409 || a.status === 404) {
    // Nothing changed, but the client's idea of the state was wrong.
    if (s.believed === null) s.guess = 'unknown';
  } else {
    throw new Error(`${op} ${s.id} answered ${a.status} ${JSON.stringify(a.body)}`);
  }
}

/** A client: one subscriber at a time, through a random instance; now and then the same operation on two at once. */
async function client(subs: Sub[], stop: () => boolean, twins: { n: number }): Promise<number> {
  let ops = 0;
  const instances = rig!.fleet.instances;
  while (!stop()) {
    const s = pick(subs);
    const op = pick(NEXT[s.guess] ?? NEXT.unknown!);
    const a = pick(instances);
    if (Math.random() < 0.15) {
      twins.n++;
      const b = instances[(instances.indexOf(a) + 1) % instances.length]!;
      const [x, y] = await Promise.all([send(op, s, a), send(op, s, b)]);
      ops += 2;
      // Both answers are acknowledged; whichever settled later is what the client would believe.
      learn(s, op, x);
      if (x && y && (y.status === 200 || y.status === 201) && (x.status === 200 || x.status === 201) && x.body.state !== y.body.state) {
        s.believed = null;
        s.guess = 'unknown';
      } else learn(s, op, y);
    } else {
      learn(s, op, await send(op, s, a));
      ops++;
    }
  }
  return ops;
}

test('random SIGKILLs under concurrent operations across three instances → no prefix twice, none leaked, nothing stuck, every acknowledged answer holds, trails are chains', async () => {
  if (!postgresAvailable('three instances on one PostgreSQL killed mid-operation')) return;
  rig = await startRig(3, 'churn');
  db = invariantDb(rig.url);
  // Every CPE call takes a little while, so that kills land with steps in flight.
  rig.acs.delayMs = 40;
  const subs: Sub[] = Array.from({ length: SUBSCRIBERS }, (_, i) => ({ id: `churn-${i}`, cpe: rig!.acs.addDevice().id, believed: null, guess: 'none' }));
  // Each client owns its subscribers, so that its acknowledged answers are ordered (twins aside).
  const shares = Array.from({ length: CLIENTS }, (_, c) => subs.filter((_, i) => i % CLIENTS === c));
  let stopping = false;
  const twins = { n: 0 };
  const started = Date.now();
  const running = shares.map((share) => client(share, () => stopping, twins));
  const kills: string[] = [];
  for (let k = 0; k < KILLS; k++) {
    // Now and then soon after the last restart, while that instance's start-up recovery may still run.
    await sleep(k % 3 === 2 ? 300 : 1500 + Math.random() * 2500);
    const victim = pick(rig.fleet.instances);
    await victim.kill();
    kills.push(`${new Date().toISOString().slice(11, 23)} ${victim.name}`);
    await sleep(Math.random() * 1500);
    await victim.start();
  }
  const lastRestart = Date.now();
  await sleep(2000);
  stopping = true;
  const ops = (await Promise.all(running)).reduce((a, b) => a + b, 0);
  const churnMs = Date.now() - started;

  // Settle: every instance up; nothing transient or busy once a few leases have passed.
  const settleFrom = Date.now();
  let left = await transient(db);
  while (left.length && Date.now() - settleFrom < SETTLE_MS) {
    await sleep(250);
    left = await transient(db);
  }
  const settleMs = Date.now() - settleFrom;
  const sinceLastRestartMs = Date.now() - lastRestart;
  const figures = { kills: kills.length, killed: kills, ops, twins: twins.n, churnMs, settleMs, sinceLastRestartMs, leaseMs: LEASE_MS, answers: Object.fromEntries([...tally].sort()) };
  console.log(`churn figures ${JSON.stringify(figures)}`);
  assert.equal(left.map((l) => `${l.subscriber_id} ${l.state}${l.busy ? ' busy' : ''}`), [], `still transient after ${settleMs} ms${rig.fleet.warnings()}`);

  // Let any lease given up by the last settle expire past its renewal before reading leases.
  await sleep(LEASE_MS);
  const problems = await fleetProblems(db);
  const story = async (p: string) => {
    const key = /idempotency key (\S+)/.exec(p)?.[1];
    const sub = key ? keys.get(key)?.[0]?.split(' ')[1] : undefined;
    const trail = sub ? (await db!.audit(sub)).slice(-4).map((a) => `${a.type} ${a.from_state}→${a.to_state}`) : [];
    return key ? `${p}: ${keys.get(key)?.join('; ')}; trail …${trail.join(', ')}; now ${JSON.stringify(sub && (await db!.lifecycleOf(sub)))}` : p;
  };
  const told = await Promise.all(problems.slice(0, 30).map(story));
  assert.equal(told, [], `${problems.length} problems${rig.fleet.warnings()}`);

  // Every acknowledged answer's effect is there: the API (through any instance) says what it said.
  const wrong: string[] = [];
  for (const s of subs) {
    if (!s.believed) continue;
    const got = await pick(rig.fleet.instances).call('GET', `lifecycle/${s.id}`);
    const state = got.status === 200 ? got.body.state : `HTTP ${got.status}`;
    if (state !== s.believed.state) wrong.push(`${s.id}: acknowledged ${s.believed.state}, now ${state}`);
    else if (state !== 'revoked' && got.body.prefix !== s.believed.prefix) wrong.push(`${s.id}: acknowledged ${s.believed.prefix}, now ${got.body.prefix}`);
  }
  assert.equal(wrong.slice(0, 30), [], `${wrong.length} acknowledged answers not holding`);

  // The CPE as the lifecycle says: PD on while active or suspended (suspend touches RADIUS only), off otherwise.
  const cpeWrong: string[] = [];
  for (const s of subs) {
    const lc = await db.lifecycleOf(s.id);
    if (!lc) continue;
    const on = rig.acs.value(s.cpe, 'Device.DHCPv6.Client.1.Enable') === true;
    if (on !== (lc.state === 'active' || lc.state === 'suspended')) cpeWrong.push(`${s.id}: ${lc.state}, CPE PD ${on ? 'on' : 'off'}`);
  }
  assert.equal(cpeWrong.slice(0, 30), [], `${cpeWrong.length} CPEs disagree with their lifecycle`);
  const leaks = await rig.fleet.instances[0]!.call('POST', 'jobs/leaks');
  assert.is(leaks.status, 200, JSON.stringify(leaks.body));
  console.log(`leaks job ${JSON.stringify(leaks.body)}`);
  assert.ok(kills.length === KILLS && ops > SUBSCRIBERS, `kills ${kills.length}, operations ${ops}`);
});

test.run();
