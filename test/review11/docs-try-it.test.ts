// README's "Try it" is the first thing a newcomer runs: `npm start` on the embedded defaults (no
// configuration file), then the listed curl commands. Each `post` line's comment promises a status,
// a state, a prefix; this runs the block's own lines against the service composed as `npm start`
// composes it (the embedded IPAM, its default pool) and holds the README to what it answers.
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import type { Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { compose } from '../../compose.ts';
import { parseConfig } from '../../config.ts';
import { createHttpServer } from '../../http/server.ts';

const test = suite('review11: README "Try it" answers as its comments say');
const readme = readFileSync('README.md', 'utf8');
const block = readme.slice(readme.indexOf('## Try it')).split('```sh\n')[1]!.split('```')[0]!;
const TOKEN = 'try-it-token-0123456789';

/** `post <op> '<json>' # <status>, <what>` lines, in order. */
const posts = [...block.matchAll(/^post (\w+)\s+'([^']*)'\s+# (\d{3}), (.*)$/gm)].map((m) => ({ op: m[1]!, json: m[2]!, status: Number(m[3]), says: m[4]! }));

test('the block has the six operations of the lifecycle, in order', () => {
  assert.equal(posts.map((p) => p.op), ['allocate', 'activate', 'suspend', 'reactivate', 'update', 'revoke']);
});

test('each line answers its status, state and prefix on the embedded defaults; the reads answer too', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'docs-try-it-'));
  const config = parseConfig({ database: join(dir, 'x.sqlite') });
  const composed = await compose(config, { log: pino({ level: 'silent' }), env: { IPV6_LIFECYCLE_API_TOKEN: TOKEN } });
  await composed.start();
  const server: Server = createHttpServer(composed.app.callback(), pino({ level: 'silent' }));
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  const origin = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  const B = `${origin}/api/v1/network/ipv6`;
  const auth = { authorization: `Bearer ${TOKEN}` };
  try {
    let prefix: string | null = null;
    for (const p of posts) {
      const res = await fetch(`${B}/${p.op}`, { method: 'POST', headers: { ...auth, 'content-type': 'application/json' }, body: p.json });
      const body = await res.json();
      const line = `post ${p.op} # ${p.status}, ${p.says}: ${JSON.stringify(body)}`;
      assert.is(res.status, p.status, line);
      const state = /state (\w+)/.exec(p.says)?.[1] ?? /^(\w+) on a new prefix/.exec(p.says)?.[1];
      if (state) assert.is(body.state, state, line);
      const named = /\b(2001:db8:[0-9a-f:]*\/\d+)/.exec(p.says)?.[1];
      if (named) assert.is(body.prefix, named, line);
      if (/a new prefix/.test(p.says)) assert.is.not(body.prefix, prefix, line);
      prefix = body.prefix;
    }
    // "prefix back in the pool after its hold-down (600 s)": both prefixes held down, none allocated.
    assert.match(block, /prefix back in the pool after its hold-down \(600 s\)/);
    const summary = await (await fetch(`${B}/metrics`, { headers: auth })).json();
    assert.equal([summary.pools[0].name, summary.pools[0].held_down, summary.states.revoked], ['documentation', 2, 1]);

    assert.match(block, /"\$B\/lifecycle\/sub-42\/events"\s+# the audit trail/);
    const events = await (await fetch(`${B}/lifecycle/sub-42/events`, { headers: auth })).json();
    assert.equal([events.events[0].type, events.events.at(-1).to], ['CREATED', 'revoked']);

    assert.match(block, /\/metrics \| grep \^ipv6_pool\s+# Prometheus/);
    const scrape = await (await fetch(`${origin}/metrics`)).text();
    const pool = scrape.split('\n').filter((l) => l.startsWith('ipv6_pool'));
    assert.ok(pool.includes('ipv6_pool_allocated_prefixes{pool="documentation"} 0'), pool.join('\n'));
    assert.ok(pool.includes('ipv6_pool_quarantined_prefixes{pool="documentation"} 2'), pool.join('\n'));
  } finally {
    server.closeAllConnections();
    await new Promise<void>((resolve) => server.close(() => resolve()));
    await composed.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});

test.run();
