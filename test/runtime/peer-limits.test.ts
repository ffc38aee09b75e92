import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { limitPort } from '../../runtime/peer-limits.ts';

const test = suite('runtime per-peer limits');

/** A fake peer: counts calls in flight, each answers after `ms`. */
class FakePeer {
  inFlight = 0;
  maxInFlight = 0;
  done = 0;
  closed = false;
  async call(n: number): Promise<number> {
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    await new Promise((r) => setTimeout(r, 1));
    this.inFlight--;
    this.done++;
    return n * 2;
  }
  async fail(): Promise<never> {
    this.inFlight++;
    this.maxInFlight = Math.max(this.maxInFlight, this.inFlight);
    await new Promise((r) => setTimeout(r, 1));
    this.inFlight--;
    throw new Error('refused');
  }
  close(): void {
    this.closed = true;
  }
}

test('never more than the limit in flight at the peer; every call answers, in its own order', async () => {
  const peer = new FakePeer();
  const port = limitPort(peer, ['call', 'fail'], 3);
  const answers = await Promise.all(Array.from({ length: 40 }, (_, i) => port.call(i)));
  assert.equal(answers, Array.from({ length: 40 }, (_, i) => i * 2));
  assert.is(peer.maxInFlight, 3);
  assert.is(peer.done, 40);
});

test('a call that fails gives its place to the next one', async () => {
  const peer = new FakePeer();
  const port = limitPort(peer, ['call', 'fail'], 1);
  const results = await Promise.allSettled([port.fail(), port.call(1), port.fail(), port.call(2)]);
  assert.equal(results.map((r) => r.status), ['rejected', 'fulfilled', 'rejected', 'fulfilled']);
  assert.is(peer.maxInFlight, 1);
  assert.is(port.limit.activeCount + port.limit.pendingCount, 0);
});

test('what is not wrapped stays as it is: synchronous methods, fields, `in`', () => {
  const peer = new FakePeer();
  const port = limitPort(peer, ['call'], 2);
  port.close();
  assert.is(peer.closed, true);
  assert.ok('fail' in port && !('nothing' in port));
  assert.is(port.inFlight, 0);
});

test.run();
