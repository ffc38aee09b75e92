// The safety net under the POST operations (http/routes/operations.ts): an operation that does not
// answer by `?wait=` plus the grace (a store call that never returns) answers 503 and goes on; with
// an Idempotency-Key its outcome still replaces the pending key when it comes.
import { once } from 'node:events';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { Registry } from 'prom-client';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { parseConfig } from '../../config.ts';
import { createApp } from '../../http/app.ts';
import type { LifecycleService } from '../../runtime/lifecycle-service.ts';
import type { Accepted } from '../../runtime/operation-types.ts';
import type { LifecycleResource } from '../../runtime/projection.ts';
import { ServiceError } from '../../services/errors.ts';
import { createIdempotencyStore } from '../../store/idempotency.ts';
import { asyncOf } from '../../store/port.ts';
import { BASE, startHarness, type Harness } from './support.ts';

const test = suite('http answer deadline');
let h: Harness;
test.after.each(async () => void (await h?.close()));

const GRACE_MS = 200;

/** The app over a service whose allocations answer only when the test says so. */
async function serve() {
  h = await startHarness();
  const calls: { resolve(a: Accepted): void; reject(e: unknown): void }[] = [];
  const service = {
    allocate: () => new Promise<Accepted>((resolve, reject) => calls.push({ resolve, reject })),
  } as unknown as LifecycleService;
  const app = createApp({
    service,
    idempotency: asyncOf(createIdempotencyStore(h.composed.db)),
    registry: new Registry(),
    summary: async () => ({ pools: [], states: {}, leaks: 0 }),
    ready: () => true,
    api: parseConfig({}).api,
    token: h.token,
    metricsToken: null,
    log: pino({ level: 'silent' }),
    answerGraceMs: GRACE_MS,
  });
  const server = createServer(app.callback()).listen(0, '127.0.0.1');
  await once(server, 'listening');
  const url = `http://127.0.0.1:${(server.address() as AddressInfo).port}${BASE}/allocate?wait=100`;
  const post = async (headers: Record<string, string> = {}) => {
    const t0 = Date.now();
    const res = await fetch(url, {
      method: 'POST',
      headers: { authorization: `Bearer ${h.token}`, 'content-type': 'application/json', ...headers },
      body: JSON.stringify({ subscriber_id: 'sub-1' }),
      // Bounded here, so that a hang fails the test instead of holding it.
      signal: AbortSignal.timeout(5000),
    }).catch((e: Error) => ({ status: 0, headers: new Headers(), json: async () => ({ error: e.message }) }));
    return { status: res.status, retryAfter: res.headers.get('retry-after'), replayed: res.headers.get('idempotent-replayed'), body: (await res.json()) as any, ms: Date.now() - t0 };
  };
  const close = () => {
    server.closeAllConnections();
    server.close();
  };
  return { calls, post, close };
}

const lifecycle = { subscriber_id: 'sub-1', state: 'allocated', prefix: '2001:db8::/56' } as unknown as LifecycleResource;

test('POST /allocate with a key whose operation never answers → 503 with Retry-After by wait + grace; its outcome, when it comes, is the key\'s answer', async () => {
  const { calls, post, close } = await serve();
  try {
    const first = await post({ 'Idempotency-Key': 'never' });
    assert.equal([first.status, first.body.error?.code, first.retryAfter], [503, 'unavailable', '1'], JSON.stringify(first.body));
    assert.ok(first.ms < 100 + GRACE_MS + 1000, `answered after ${first.ms} ms`);
    calls[0]!.resolve({ created: true, settled: true, lifecycle, final: Promise.resolve({ created: true, settled: true, lifecycle }) });
    // The key was left pending for that outcome, not forgotten as after a 5xx: the replay answers it, nothing runs again.
    const replay = await post({ 'Idempotency-Key': 'never' });
    assert.equal([replay.status, replay.replayed, replay.body.prefix], [201, 'true', '2001:db8::/56'], JSON.stringify(replay.body));
    assert.is(calls.length, 1);
  } finally {
    close();
  }
});

test('POST /allocate without a key whose operation never answers → 503 by wait + grace; its late failure is no unhandled rejection', async () => {
  const { calls, post, close } = await serve();
  const unhandled: unknown[] = [];
  const collect = (e: unknown) => unhandled.push(e);
  process.on('unhandledRejection', collect);
  try {
    const first = await post();
    assert.equal([first.status, first.body.error?.code], [503, 'unavailable'], JSON.stringify(first.body));
    calls[0]!.reject(new ServiceError('unavailable', 'late'));
    await new Promise((r) => setImmediate(r));
    assert.equal(unhandled, []);
  } finally {
    process.off('unhandledRejection', collect);
    close();
  }
});

test.run();
