// Review 12: GET /lifecycle walked page by page as an ISP's script walks it, while other clients
// create, suspend, reactivate, update and revoke lifecycles. API.md's list has `state`, `pool`,
// `limit` and `cursor`; docs/api.md adds `order` and says a page starts just past the previous
// page's last lifecycle. Shared by the SQLite and the several-instances-on-PostgreSQL reviews.
import * as assert from 'uvu/assert';

/** One way to reach the API: `METHOD <base>/<path>` with the token. */
export type Call = (method: string, path: string, body?: unknown) => Promise<{ status: number; body: any }>;

export const POOLS = [
  { name: 'residential', prefix: '2001:db8::/33', prefix_length: 56 },
  { name: 'business', prefix: '2001:db8:8000::/33', prefix_length: 56 },
];
export const FILTERS: { state?: string; pool?: string }[] = [
  {},
  { state: 'active' },
  { state: 'suspended' },
  { state: 'revoked' },
  { state: 'allocated' },
  { pool: 'business' },
  { state: 'active', pool: 'residential' },
];
const SHAPES = ['allocated', 'active', 'suspended', 'revoked'] as const;

async function ok(call: Call, method: string, path: string, body?: unknown): Promise<any> {
  const r = await call(method, path, body);
  assert.ok(r.status === 200 || r.status === 201, `${method} ${path} ${JSON.stringify(body)}: ${r.status} ${JSON.stringify(r.body).slice(0, 300)}`);
  return r.body;
}

/** Subscriber `id` brought to `shape` in `pool`. */
export async function bring(call: Call, id: string, shape: (typeof SHAPES)[number], pool: string): Promise<void> {
  await ok(call, 'POST', 'allocate', { subscriber_id: id, pool });
  if (shape === 'allocated') return;
  if (shape === 'revoked') return void (await ok(call, 'POST', 'revoke', { subscriber_id: id }));
  await ok(call, 'POST', 'activate', { subscriber_id: id, username: `${id}@isp` });
  if (shape === 'suspended') await ok(call, 'POST', 'suspend', { subscriber_id: id });
}

/** `n` subscribers `<tag>-i`, every shape in both pools; `calls[i % calls.length]` makes each. */
export async function seed(calls: Call[], tag: string, n: number): Promise<string[]> {
  const ids = Array.from({ length: n }, (_, i) => `${tag}-${i}`);
  for (let i = 0; i < n; i += 6) {
    await Promise.all(ids.slice(i, i + 6).map((id, j) => bring(calls[(i + j) % calls.length]!, id, SHAPES[(i + j) % 4]!, POOLS[Math.floor((i + j) / 4) % 2]!.name)));
  }
  return ids;
}

/** Every lifecycle the list has now (no filter, one big page at a time), by lifecycle id. */
export async function snapshot(call: Call): Promise<Map<string, any>> {
  const all = new Map<string, any>();
  let cursor: string | null = null;
  do {
    const page: any = await ok(call, 'GET', `lifecycle?limit=1000${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    for (const item of page.items) all.set(item.lifecycle_id, item);
    cursor = page.next_cursor;
  } while (cursor);
  return all;
}

/**
 * Changes the `churn` subscribers (suspend, reactivate, update to the other pool, revoke, allocate
 * again) and creates new ones, and moves `kept` (active) ones to a new prefix in their pool, until
 * `stop()`; returns how many operations it sent.
 */
export function churn(calls: Call[], tag: string, ids: string[], kept: string[] = []): { stop(): Promise<number> } {
  let running = true;
  let sent = 0;
  const worker = async (w: number) => {
    for (let k = 0; running; k++) {
      const call = calls[(w + k) % calls.length]!;
      const id = ids[(w * 7 + k) % ids.length]!;
      const cur = await call('GET', `lifecycle/${id}`);
      const state = cur.body?.state;
      const other = POOLS.find((p) => p.name !== cur.body?.pool)!.name;
      const next: [string, unknown] =
        k % 5 === 4
          ? ['allocate', { subscriber_id: `${tag}-new-${w}-${k}`, pool: other }]
          : state === 'allocated'
            ? ['activate', { subscriber_id: id, username: `${id}@isp` }]
            : state === 'active'
              ? k % 3 === 0 ? ['update', { subscriber_id: id, pool: other }] : k % 3 === 1 ? ['suspend', { subscriber_id: id }] : ['revoke', { subscriber_id: id }]
              : state === 'suspended'
                ? ['reactivate', { subscriber_id: id }]
                : ['allocate', { subscriber_id: id, pool: other }];
      await call('POST', next[0], next[1]);
      sent++;
    }
  };
  // Active `kept` ones move to a new prefix in their own pool: updated, but state and pool kept.
  const reprefix = async () => {
    for (let k = 0; running; k++) {
      const id = kept[k % kept.length]!;
      const r = await calls[k % calls.length]!('POST', 'update', { subscriber_id: id, prefix_length: k % 2 ? 56 : 60 });
      assert.is(r.status, 200, `update ${id}: ${JSON.stringify(r.body).slice(0, 300)}`);
      sent++;
    }
  };
  const workers = [...[0, 1, 2].map(worker), ...(kept.length ? [reprefix()] : [])];
  return {
    async stop() {
      running = false;
      await Promise.all(workers);
      return sent;
    },
  };
}

const query = (f: { state?: string; pool?: string }, order: string, limit: number) =>
  [f.state ? `state=${f.state}` : '', f.pool ? `pool=${f.pool}` : '', `order=${order}`, `limit=${limit}`].filter(Boolean).join('&');

/**
 * Walks one filter and order `limit` at a time; asserts the page bounds, exact filters, no lifecycle
 * twice, and each of `stable` (untouched during the walk) that matches once, in creation order.
 */
export async function walk(call: Call, f: { state?: string; pool?: string }, order: 'asc' | 'desc', limit: number, stable: Map<string, any>): Promise<number> {
  const what = `GET /lifecycle?${query(f, order, limit)}`;
  const seen = new Map<string, number>();
  let cursor: string | null = null;
  let pages = 0;
  do {
    const page: any = await ok(call, 'GET', `lifecycle?${query(f, order, limit)}${cursor ? `&cursor=${encodeURIComponent(cursor)}` : ''}`);
    pages++;
    assert.ok(page.items.length <= limit, `${what}: a page of ${page.items.length}`);
    if (page.next_cursor !== null) assert.is(page.items.length, limit, `${what}: a page with a next_cursor is full`);
    for (const item of page.items) {
      if (f.state) assert.is(item.state, f.state, `${what}: ${item.subscriber_id} is ${item.state}`);
      if (f.pool) assert.is(item.pool, f.pool, `${what}: ${item.subscriber_id} is in ${item.pool}`);
      seen.set(item.lifecycle_id, (seen.get(item.lifecycle_id) ?? 0) + 1);
    }
    cursor = page.next_cursor;
  } while (cursor && pages < 10_000);
  const twice = [...seen].filter(([, n]) => n > 1).map(([id]) => id);
  assert.equal(twice, [], `${what}: lifecycles listed twice`);
  const missing = [...stable.values()].filter((s) => (!f.state || s.state === f.state) && (!f.pool || s.pool === f.pool) && !seen.has(s.lifecycle_id));
  assert.equal(missing.map((s) => `${s.subscriber_id} (${s.state}, ${s.pool})`), [], `${what}: lifecycles untouched throughout, missing`);
  // `stable` is in the list's own order (newest first): the walk keeps it, or its reverse.
  const want = [...stable.keys()].filter((id) => seen.has(id));
  assert.equal([...seen.keys()].filter((id) => stable.has(id)), order === 'desc' ? want : want.reverse(), `${what}: out of creation order`);
  return pages;
}

/** GET /metrics `states` against the list's count per state (once nothing moves). */
export async function statesAgree(call: Call): Promise<void> {
  const summary = await ok(call, 'GET', 'metrics');
  const listed: Record<string, number> = {};
  for (const item of (await snapshot(call)).values()) listed[item.state] = (listed[item.state] ?? 0) + 1;
  const nonzero = (o: Record<string, number>) => Object.fromEntries(Object.entries(o).filter(([, n]) => n > 0).sort());
  assert.equal(nonzero(summary.states), nonzero(listed), 'GET /metrics states against GET /lifecycle per state');
}

/** Subscriber `id` through three lifecycles, each operation through the next of `calls`. */
export async function threeLifecycles(calls: Call[], id: string): Promise<void> {
  const steps: [string, unknown][] = [
    ['allocate', { subscriber_id: id, pool: 'residential' }],
    ['activate', { subscriber_id: id, username: `${id}@isp` }],
    ['suspend', { subscriber_id: id }],
    ['reactivate', { subscriber_id: id }],
    ['update', { subscriber_id: id, pool: 'business' }],
    ['revoke', { subscriber_id: id }],
    ['allocate', { subscriber_id: id, pool: 'business' }],
    ['revoke', { subscriber_id: id }],
    ['allocate', { subscriber_id: id }],
    ['activate', { subscriber_id: id, username: `${id}@isp` }],
  ];
  for (const [i, [verb, body]] of steps.entries()) await ok(calls[i % calls.length]!, 'POST', verb, body);
}

/**
 * GET /lifecycle/{id}/events: oldest first, no event twice, each lifecycle's events together and
 * in creation order, starting at CREATED from null, each `from` the `to` before it, the last `to`
 * the state the lifecycle shows.
 */
export async function eventsAgree(call: Call, id: string, lifecycles: number): Promise<void> {
  const { events } = await ok(call, 'GET', `lifecycle/${id}/events`);
  const seen = new Set<string>();
  const order: string[] = [];
  const lastTo = new Map<string, string>();
  for (const [i, e] of (events as any[]).entries()) {
    const where = `${id} event ${i} ${JSON.stringify(e).slice(0, 200)}`;
    if (i > 0) assert.ok(e.at >= events[i - 1].at, `${where}: older than the one before`);
    const text = JSON.stringify(e);
    assert.not.ok(seen.has(text), `${where}: listed twice`);
    seen.add(text);
    if (order.at(-1) !== e.lifecycle_id) {
      assert.not.ok(order.includes(e.lifecycle_id), `${where}: its lifecycle's events are not together`);
      order.push(e.lifecycle_id);
      assert.equal([e.type, e.from], ['CREATED', null], `${where}: a lifecycle starts with CREATED from null`);
    } else {
      assert.is(e.from, lastTo.get(e.lifecycle_id), `${where}: from is not the state the event before reached`);
    }
    lastTo.set(e.lifecycle_id, e.to);
  }
  assert.is(order.length, lifecycles, `${id}: lifecycles in the trail`);
  assert.equal([...order].sort(), order, `${id}: lifecycles in creation order (UUIDv7)`);
  const now = await ok(call, 'GET', `lifecycle/${id}`);
  assert.is(now.lifecycle_id, order.at(-1));
  assert.is(lastTo.get(now.lifecycle_id), now.state, `${id}: the last event's to against GET /lifecycle/${id}`);
}

/**
 * A cursor handed out by one filter, sent with another: the other filter's lifecycles just past
 * the cursor's position in the one creation order, none from before it (the cursor is a position).
 */
export async function cursorAcrossFilters(call: Call): Promise<void> {
  const full = [...(await snapshot(call)).values()];
  const page = await ok(call, 'GET', 'lifecycle?state=active&limit=3');
  const at = full.findIndex((l) => l.lifecycle_id === page.items.at(-1).lifecycle_id);
  for (const f of [{ state: 'revoked' }, { pool: 'business' }, {}] as { state?: string; pool?: string }[]) {
    const next = await ok(call, 'GET', `lifecycle?${query(f, 'desc', 4)}&cursor=${encodeURIComponent(page.next_cursor)}`);
    const want = full.slice(at + 1).filter((l) => (!f.state || l.state === f.state) && (!f.pool || l.pool === f.pool)).slice(0, 4);
    assert.equal(next.items.map((l: any) => l.subscriber_id), want.map((l) => l.subscriber_id), `state=active's cursor sent with ${JSON.stringify(f)}`);
  }
}

/**
 * In each order, a page of revoked lifecycles, then the cleanup job (on `cleanupOn`) deletes its
 * last one by retention (`backdate` moved its revocation to 2020): the cursor still answers the
 * rest once each, and GET /metrics states agree with the list again.
 */
export async function cursorPastDeleted(call: Call, cleanupOn: Call, backdate: (lifecycleId: string) => Promise<void>): Promise<void> {
  for (const order of ['desc', 'asc'] as const) {
    const first = await ok(call, 'GET', `lifecycle?state=revoked&order=${order}&limit=3`);
    const gone = first.items.at(-1);
    const expected = (await ok(call, 'GET', `lifecycle?state=revoked&order=${order}&limit=1000`)).items.map((l: any) => l.lifecycle_id).filter((id: string) => id !== gone.lifecycle_id);
    await backdate(gone.lifecycle_id);
    const job = await ok(cleanupOn, 'POST', 'jobs/cleanup', {});
    assert.is(job.counts.retention_deleted, 1, `cleanup ${JSON.stringify(job.counts)}`);
    const got: string[] = first.items.slice(0, -1).map((l: any) => l.lifecycle_id);
    let cursor: string | null = first.next_cursor;
    while (cursor) {
      const page: any = await ok(call, 'GET', `lifecycle?state=revoked&limit=3&cursor=${encodeURIComponent(cursor)}`);
      got.push(...page.items.map((l: any) => l.lifecycle_id));
      cursor = page.next_cursor;
    }
    assert.equal(got, expected, `order=${order}: the walk on past a lifecycle deleted by retention`);
    assert.ok((await ok(call, 'GET', `lifecycle/${gone.subscriber_id}/events`)).events.some((e: any) => e.lifecycle_id === gone.lifecycle_id), 'its trail stays');
    await statesAgree(call);
    await statesAgree(cleanupOn);
  }
}

/** Subscriber `id` active, then suspend, reactivate and update sent at once, `calls[i % n]` each. */
export async function contended(calls: Call[], id: string, rounds: number): Promise<number[]> {
  await bring(calls[0]!, id, 'active', 'residential');
  const statuses: number[] = [];
  for (let r = 0; r < rounds; r++) {
    const ops: [string, unknown][] = [
      ['suspend', { subscriber_id: id }],
      ['reactivate', { subscriber_id: id }],
      ['update', { subscriber_id: id, prefix_length: r % 2 ? 56 : 60 }],
      ['suspend', { subscriber_id: id }],
      ['reactivate', { subscriber_id: id }],
      ['update', { subscriber_id: id, pool: r % 2 ? 'residential' : 'business' }],
    ];
    statuses.push(...(await Promise.all(ops.map(([verb, body], i) => calls[i % calls.length]!('POST', verb, body)))).map((a) => a.status));
  }
  return statuses;
}
