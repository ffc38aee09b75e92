// Review 6 (held): allocations made at once from the template (embedded IPAM on SQLite), for
// subscriber ids the API accepts that stress a JSON or object encoding, in both pools: the answer
// is the stored lifecycle, the audit trail is CREATED then the allocation, and after a restart on
// the same database each lifecycle reads the same and goes on (activate, revoke) as an actor's.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { compose } from '../../compose.ts';
import { parseConfig } from '../../config.ts';

const test = suite('review6: allocations made at once, odd subscriber ids, across a restart');
const POOLS = [
  { name: 'residential', prefix: '2001:db8::/40', prefix_length: 56 },
  { name: 'business', prefix: '2001:db8:1000::/40', prefix_length: 48 },
];
const IDS = ['__proto__', 'constructor', 'a"b\\c', 'line\u2028sep', 'é日本🙂', ' spaced ', 'x'.repeat(128), '0', 'null'];

async function start(dir: string) {
  const composed = await compose(parseConfig({ database: join(dir, 'l.sqlite'), pools: POOLS, retry: { attempts: 2, base_ms: 1, max_ms: 5 } }), {
    log: pino({ level: 'silent' }),
    env: { IPV6_LIFECYCLE_API_TOKEN: 'at-once-review-token' },
    overrides: { cpe: null, sessions: null, replies: null },
  });
  await composed.start();
  return composed;
}

test('each odd id: the answer is what is stored, CREATED then allocated in the trail, the same after a restart, and it goes on', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'review6-at-once-'));
  try {
    let c = await start(dir);
    const answers = new Map<string, unknown>();
    // Counted, so that the test knows the allocations were made at once (not by an actor).
    let madeAtOnce = 0;
    const host = c.host;
    const createAtOnce = host.createAtOnce.bind(host);
    host.createAtOnce = async (input) => {
      const made = await createAtOnce(input);
      if (made) madeAtOnce++;
      return made;
    };
    for (const [i, id] of IDS.entries()) {
      const pool = i % 2 ? 'business' : 'residential';
      const a = await c.service.allocate({ subscriber_id: id, pool }, 5000);
      assert.is(a.created, true, id);
      const stored = await c.service.get(id);
      assert.equal(a.lifecycle, stored, `${id}: the answer is the stored lifecycle`);
      assert.is(stored.state, 'allocated', id);
      assert.is(stored.subscriber_id, id);
      assert.is(stored.pool, pool);
      assert.is(stored.prefix!.endsWith(pool === 'business' ? '/48' : '/56'), true, `${id}: ${stored.prefix}`);
      const types = (await c.service.events(id)).map((e) => e.type);
      assert.equal(types.slice(0, 2), ['CREATED', types[1]], id);
      assert.is(types.length, 2, `${id}: ${types.join(',')}`);
      answers.set(id, stored);
    }
    assert.is(madeAtOnce, IDS.length, 'every allocation was made at once');
    await c.stop();
    c = await start(dir);
    for (const id of IDS) {
      assert.equal(await c.service.get(id), answers.get(id), `${id}: the same after a restart`);
      await c.service.activate({ subscriber_id: id, username: `u-${IDS.indexOf(id)}` }, 5000);
      assert.is((await c.service.get(id)).state, 'active', id);
      await c.service.revoke({ subscriber_id: id }, 5000);
      assert.is((await c.service.get(id)).state, 'revoked', id);
    }
    await c.stop();
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
