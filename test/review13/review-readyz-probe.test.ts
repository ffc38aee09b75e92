// Review 13 (7857924): /readyz on PostgreSQL waits on a probe that ends after it was asked, up to
// 2 s. The run alone (compose-run.ts), its store's probe in the test's hands: a probe that hangs
// past 2 s, the calls that come meanwhile, and a stop while a probe is in flight.
import pino from 'pino';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createRun, type RunParts } from '../../compose-run.ts';

interface Probe {
  calls: number;
  settle: ((err?: Error) => void)[];
}

function rig() {
  const probe: Probe = { calls: 0, settle: [] };
  const port = {
    probe: () => {
      probe.calls++;
      return new Promise<void>((resolve, reject) => probe.settle.push((err) => (err ? reject(err) : resolve())));
    },
  };
  const host = { storeProblem: null, storeRecovered: () => {}, resumeInFlight: async () => 0, stopAll: () => {}, drain: async () => {} };
  const parts = {
    config: {},
    log: pino({ level: 'silent' }),
    retry: { attempts: 1, baseMs: 0, maxMs: 0, retryAfterMaxMs: 0 },
    ipam: {},
    opened: { port, sqlite: null, postgresql: null, fresh: false, close: async () => {}, discard: async () => {} },
    host,
    ownership: null,
    jobs: { start: () => {}, stop: () => {} },
    closers: [],
  } as unknown as RunParts;
  return { run: createRun(parts), probe };
}

const test = suite('review13: /readyz and its probe of PostgreSQL');

test('a probe slower than 2 s (a busy pool): the last answer stands, the calls meanwhile join it (no second probe); hung 10 s: 503; once it ends, the next call probes anew', async () => {
  const { run, probe } = rig();
  await run.start();
  const t0 = Date.now();
  const first = run.checkReady();
  await new Promise((r) => setTimeout(r, 500));
  const second = run.checkReady();
  assert.is(await first, null, 'slow is not down: busy instances would all leave the balancer');
  const waited = Date.now() - t0;
  assert.ok(waited >= 1900 && waited < 2600, `waited ${waited} ms`);
  assert.is(await second, null);
  assert.is(probe.calls, 1);
  await new Promise((r) => setTimeout(r, 10_000 - (Date.now() - t0)));
  assert.match(String(await run.checkReady()), /did not answer the readiness probe within 10 s/);
  assert.is(probe.calls, 1, 'the calls join the hung probe');
  probe.settle[0]!();
  await new Promise((r) => setTimeout(r, 300));
  const third = run.checkReady();
  assert.is(probe.calls, 2);
  probe.settle[1]!();
  assert.is(await third, null);
  await run.stop();
});

test('stopped while a probe is in flight that then succeeds: the waiting /readyz does not answer ready', async () => {
  const { run, probe } = rig();
  await run.start();
  const asked = run.checkReady();
  await new Promise((r) => setTimeout(r, 20));
  await run.stop();
  probe.settle[0]!();
  const reason = await asked;
  assert.ok(reason !== null, 'a stopped instance answered /readyz 200');
  assert.is(await run.checkReady(), run.notReady());
});

test.run();
