// runtime/flights.ts: a step's call that outlives its actor. Stopping an actor gives its call up,
// unless the lifecycle was parked first; a parked call's outcome goes once to the next actor that
// joins it, and the host is told when it lands.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { Flights, type Landing } from '../../runtime/flights.ts';

const test = suite('Flights');

/** A call held until `end()`; `signal` is the one the call was handed. */
function held() {
  let end: (v: string | Error) => void = () => undefined;
  const calls: AbortSignal[] = [];
  const start = (signal: AbortSignal, land: Landing<string>) => {
    calls.push(signal);
    end = (v) => (v instanceof Error ? land.reject(v) : land.resolve(v));
  };
  return { start, calls, end: (v: string | Error) => end(v) };
}
const tick = () => new Promise((r) => setImmediate(r));

test('an actor stopped without a park gives its call up', async () => {
  const f = new Flights();
  const call = held();
  const actor = new AbortController();
  void f.run('L', 'k', actor.signal, call.start).catch(() => undefined);
  actor.abort();
  assert.ok(call.calls[0]!.aborted, 'the call is aborted');
  assert.not.ok(f.holds('L'));
});

test('parked: the call goes on; its outcome lands once, for the next actor, and the host hears of it', async () => {
  const f = new Flights();
  const landed: string[] = [];
  f.onLanded = (id) => landed.push(id);
  const call = held();
  const first = new AbortController();
  let firstHeard = false;
  void f.run('L', 'k', first.signal, call.start).then(() => (firstHeard = true));
  assert.ok(f.park('L'));
  first.abort();
  assert.not.ok(call.calls[0]!.aborted, 'not aborted: parked');
  assert.is(f.parked, 1);
  call.end('done');
  await tick();
  assert.not.ok(firstHeard, 'the stopped actor is not answered');
  assert.equal(landed, ['L']);
  const second = new AbortController();
  const start2 = held();
  assert.is(await f.run('L', 'k', second.signal, start2.start), 'done');
  assert.is(start2.calls.length, 0, 'the landed outcome answered: no second call');
  assert.not.ok(f.holds('L'));
  const third = held();
  void f.run('L', 'k', new AbortController().signal, third.start);
  assert.is(third.calls.length, 1, 'taken once: a later run of the same step calls again');
});

test('an actor hydrated while the call is under way joins it; a failure reaches it as a rejection', async () => {
  const f = new Flights();
  const call = held();
  const first = new AbortController();
  void f.run('L', 'k', first.signal, call.start).catch(() => undefined);
  f.park('L');
  first.abort();
  const again = held();
  const joined = f.run('L', 'k', new AbortController().signal, again.start);
  assert.is(again.calls.length, 0, 'joined, not started again');
  assert.is(f.parked, 0);
  call.end(new Error('refused'));
  const err = await joined.then(() => null, (e: Error) => e);
  assert.match(String(err), /refused/);
});

test('another key is another call; dropLanded forgets an outcome nobody took; abortAll gives every call up', async () => {
  const f = new Flights();
  const a = held();
  const b = held();
  const actorA = new AbortController();
  void f.run('L', 'a', actorA.signal, a.start);
  void f.run('M', 'b', new AbortController().signal, b.start);
  f.park('L');
  actorA.abort();
  a.end('x');
  await tick();
  assert.is(f.dropLanded('L'), 1);
  const c = held();
  void f.run('L', 'a', new AbortController().signal, c.start);
  assert.is(c.calls.length, 1, 'dropped: the next run calls');
  f.abortAll();
  assert.ok(b.calls[0]!.aborted && c.calls[0]!.aborted);
  assert.not.ok(f.holds('M'));
});

test('a call that lands while it starts (a skipped step) answers its actor; the host is not told', async () => {
  const f = new Flights();
  const landed: string[] = [];
  f.onLanded = (id) => landed.push(id);
  const answer = await f.run<string>('L', 'k', new AbortController().signal, (_signal, land) => land.resolve('skipped'));
  assert.is(answer, 'skipped');
  assert.equal(landed, []);
  assert.not.ok(f.holds('L'));
  const thrown = await f.run('L', 'k', new AbortController().signal, () => {
    throw new Error('bug');
  }).catch((err: Error) => err.message);
  assert.is(thrown, 'bug', 'a start that throws is the call failing');
});

test.run();
