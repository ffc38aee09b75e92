// Review 7 (held): `main.ts` as an operator runs it (a YAML file, the embedded IPAM, a GenieACS NBI),
// SIGKILLed in the middle of a burst of keyed allocations and again while revocations wait on a
// slow ACS, then started again on the same files. API.md: "a replay with the same key and body
// returns the first answer and does nothing again"; README: "If the process is killed at any
// moment, it restarts and finishes the work that was in flight. No prefix is leaked, none is
// allocated twice, and no step is lost."
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startGenieacsNbi, type GenieacsNbi } from '../support/genieacs-nbi.ts';
import { freePort, soakService, type SoakService } from '../support/soak-service.ts';

const TOKEN = 'review7-crash-token-0123456789';
const test = suite('review7 (held): SIGKILL mid-allocation and mid-revocation, restart, replay');
let dir: string;
let nbi: GenieacsNbi;
let svc: SoakService;

async function call(method: string, path: string, body?: unknown, key?: string) {
  const headers: Record<string, string> = { authorization: `Bearer ${TOKEN}`, 'content-type': 'application/json' };
  if (key) headers['idempotency-key'] = key;
  const res = await fetch(`${svc.origin}/api/v1/network/ipv6/${path}`, { method, headers, body: body === undefined ? undefined : JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as any };
}
const events = async (id: string) => ((await call('GET', `lifecycle/${id}/events`)).body.events as any[]).map((e) => `${e.type}:${e.detail?.step ?? e.to}`);

test.before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'review7-crash-'));
  nbi = await startGenieacsNbi();
  const config = join(dir, 'config.yaml');
  const port = await freePort();
  writeFileSync(
    config,
    [
      `listen: { host: 127.0.0.1, port: ${port} }`,
      `database: ${join(dir, 'l.sqlite')}`,
      'pools: [{ name: residential, prefix: "2001:db8::/40", prefix_length: 56 }]',
      `genieacs: { url: "${nbi.url}", task_timeout_ms: 200 }`,
      'retry: { attempts: 3, base_ms: 10, max_ms: 50 }',
      'log: { level: warn }',
    ].join('\n'),
  );
  svc = soakService({ config, port, env: { IPV6_LIFECYCLE_API_TOKEN: TOKEN } });
  await svc.start();
  await svc.ready();
});
test.after(async () => {
  await svc.kill();
  await nbi.close();
  rmSync(dir, { recursive: true, force: true });
});

test('a burst of 30 keyed allocations killed half-way: every answer heard is kept, each key replays its prefix, one prefix each, CREATED then allocated', async () => {
  const heard = new Map<string, string>();
  let answered = 0;
  const enough = new Promise<void>((resolve) => {
    const burst = Array.from({ length: 30 }, async (_, i) => {
      const r = await call('POST', 'allocate', { subscriber_id: `burst-${i}` }, `burst-key-${i}`).catch(() => null);
      if (r?.status === 201) heard.set(`burst-${i}`, r.body.prefix);
      if (++answered === 10) resolve();
    });
    void Promise.all(burst);
  });
  await enough;
  await svc.kill();
  await svc.start();
  await svc.ready();
  const prefixes = new Map<string, string>();
  for (let i = 0; i < 30; i++) {
    const r = await call('POST', 'allocate', { subscriber_id: `burst-${i}` }, `burst-key-${i}`);
    assert.ok(r.status === 201 || r.status === 200, `burst-${i}: ${r.status} ${JSON.stringify(r.body).slice(0, 160)}`);
    if (heard.has(`burst-${i}`)) assert.is(r.body.prefix, heard.get(`burst-${i}`), `burst-${i}: the replay answers the prefix heard before the kill`);
    prefixes.set(`burst-${i}`, r.body.prefix);
    assert.equal(await events(`burst-${i}`), ['CREATED:pending', 'STEP_DONE:embedded_allocate'], `burst-${i}`);
  }
  assert.ok(heard.size >= 1, `answers heard before the kill: ${heard.size}`);
  assert.is(new Set(prefixes.values()).size, 30, 'one prefix each');
  const m = (await call('GET', 'metrics')).body;
  assert.is(m.pools[0].allocated, 30);
  assert.is(m.states.allocated, 30);
});

test('revocations killed while the ACS is slow: after the restart each ends revoked once, every step once, the CPE off, the prefix held down', async () => {
  const ids = ['slow-0', 'slow-1', 'slow-2'];
  for (const id of ids) {
    nbi.addDevice({ id: `CPE-${id}` });
    assert.is((await call('POST', 'allocate', { subscriber_id: id })).status, 201);
    const a = await call('POST', 'activate', { subscriber_id: id, username: id, cpe_id: `CPE-${id}` });
    assert.is(a.body.state, 'active', JSON.stringify(a.body).slice(0, 200));
  }
  const seen = nbi.requests.length;
  // Longer than the kill and the restart take; its timers then end on their own (the test's process can exit).
  nbi.delayMs = 3000;
  for (const id of ids) assert.is((await call('POST', 'revoke?wait=0', { subscriber_id: id }, `revoke-${id}`)).status, 202);
  // Killed once the ACS has every removal in hand (and holds it), not after a guessed time.
  while (nbi.requests.filter((r, i) => i >= seen && r.method === 'POST').length < ids.length) await new Promise((r) => setImmediate(r));
  await svc.kill();
  nbi.clearFaults();
  await svc.start();
  await svc.ready();
  for (const id of ids) {
    const r = await call('POST', 'revoke', { subscriber_id: id }, `revoke-${id}`);
    assert.is(r.status, 200, `${id}: ${JSON.stringify(r.body).slice(0, 200)}`);
    assert.is(r.body.state, 'revoked');
    const trail = await events(id);
    const once = (e: string) => trail.filter((t) => t === e).length;
    for (const e of ['REVOKE:revoking', 'STEP_DONE:embedded_release', 'STEP_DONE:cpe_remove_ipv6', 'STEP_DONE:embedded_free']) assert.is(once(e), 1, `${id}: ${e} in ${trail.join(', ')}`);
    assert.is(nbi.value(`CPE-${id}`, 'Device.DHCPv6.Client.1.Enable'), false, `${id}: PD off on the CPE`);
  }
  const m = (await call('GET', 'metrics')).body;
  assert.is(m.states.revoked, 3);
  assert.is(m.pools[0].held_down, 3, 'the three prefixes are held down, not free, not leaked');
  assert.is(m.pools[0].allocated, 33);
  assert.is(m.leaks, 0);
});

test.run();
