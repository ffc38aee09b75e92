// Review 12 (cpe12): the reconciliation compared the CPEs only for revoked lifecycles. An active
// lifecycle whose CPE GenieACS shows with DHCPv6-PD off (a hand edit, a factory reset) or does not
// know at all (a restore from an older backup, a device deleted from the ACS) was never named.
// The NBI stand-in (test/support/genieacs-nbi.ts) plays GenieACS; IPAM is the embedded one.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pino from 'pino';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { compose, type Composed } from '../../compose.ts';
import { parseConfig } from '../../config.ts';
import { compareActiveCpe, holdBackUnheld, type Found, type LifecycleView } from '../../runtime/reconcile-checks.ts';
import { startGenieacsNbi, type GenieacsNbi } from '../support/genieacs-nbi.ts';
import { serveApi, type ServedApi } from '../support/served-api.ts';

const TOKEN = 'cpe-reconcile-active-token';
const PD = 'Device.DHCPv6.Client.1.Enable';
const ON = ['s-on-1', 's-on-2', 's-on-3'];

interface Rig {
  svc: Composed;
  acs: GenieacsNbi;
  api: ServedApi;
  dir: string;
  cpeOf: Record<string, string>;
  call(method: string, path: string, body?: unknown): Promise<{ status: number; body: any }>;
}

async function rig(repair: 'report' | 'repair'): Promise<Rig> {
  const dir = mkdtempSync(join(tmpdir(), 'cpe-active-'));
  const acs = await startGenieacsNbi();
  const svc = await compose(
    parseConfig({
      database: join(dir, 'svc.sqlite'),
      retry: { attempts: 2, base_ms: 1, max_ms: 5 },
      pools: [{ name: 'residential', prefix: '2001:db8::/40', prefix_length: 56 }],
      genieacs: { url: acs.url, timeout_ms: 5000, task_timeout_ms: 300 },
      reconcile: { cpe_batch_size: 2, ...(repair === 'repair' ? { repair: { cpe_not_delegating: 'repair' } } : {}) },
    }),
    { log: pino({ level: 'silent' }), env: { IPV6_LIFECYCLE_API_TOKEN: TOKEN }, overrides: { sessions: null } },
  );
  await svc.start();
  const api = await serveApi(svc.app, TOKEN);
  const call = api.call;
  const cpeOf: Record<string, string> = {};
  for (const s of [...ON, 's-off', 's-gone', 's-pending']) {
    cpeOf[s] = acs.addDevice({ id: `00AABB-PD-${s}`, ...(s === 's-pending' ? { mode: 'offline' as const } : {}) }).id;
    assert.is((await call('POST', 'allocate', { subscriber_id: s })).status, 201, `${s} allocated`);
    const a = await call('POST', 'activate', { subscriber_id: s, username: `${s}@isp`, cpe_id: cpeOf[s] });
    assert.is(a.body.state, 'active', `${s} active`);
  }
  acs.device(cpeOf['s-off']!).params.get(PD)!.value = false; // switched off by hand in GenieACS
  acs.deleteDevice(cpeOf['s-gone']!); // GenieACS no longer knows it
  acs.device(cpeOf['s-pending']!).params.get(PD)!.value = false; // its configure task is still queued
  return { svc, acs, api, dir, cpeOf, call };
}

async function close(r: Rig | undefined): Promise<void> {
  if (!r) return;
  await r.api.close();
  await r.svc.stop();
  await r.acs.close();
  rmSync(r.dir, { recursive: true, force: true });
}

const kindOf = async (r: Rig, kind: string) =>
  ((await r.call('GET', `reconciliation?kind=${kind}&limit=1000`)).body.items as { subscriber_id: string; cpe_id: string; action: string; detail: any }[]).sort((a, b) =>
    a.subscriber_id.localeCompare(b.subscriber_id),
  );

const reported = suite('review12: an active lifecycle whose CPE does not delegate (default: report)');
let r: Rig | undefined;
reported.before(async () => {
  r = await rig('report');
});
reported.after(async () => close(r));

reported('POST /jobs/reconcile names cpe_not_delegating for the CPE switched off and the one GenieACS does not know, never the pending one', async () => {
  const before = r!.acs.requests.length;
  const run = await r!.call('POST', 'jobs/reconcile');
  assert.is(run.status, 200);
  assert.is(run.body.counts.cpe_not_delegating, 2, JSON.stringify(run.body.counts));
  const found = await kindOf(r!, 'cpe_not_delegating');
  assert.equal(
    found.map((f) => [f.subscriber_id, f.cpe_id, f.action, f.detail.pd]),
    [
      ['s-gone', r!.cpeOf['s-gone'], 'reported', 'missing'],
      ['s-off', r!.cpeOf['s-off'], 'reported', 'off'],
    ],
  );
  const reads = r!.acs.requests.slice(before).filter((q) => q.method === 'GET' && q.url.startsWith('/devices'));
  // 5 active CPEs (the pending one is not asked about) in batches of 2: 3 projection queries, none per device.
  assert.is(reads.length, 3, reads.map((q) => decodeURIComponent(q.url)).join('\n'));
  assert.ok(reads.every((q) => decodeURIComponent(q.url).includes('"$in"')));
  assert.is(r!.acs.requests.slice(before).filter((q) => q.method === 'POST').length, 0, 'nothing queued on a report');
  const gauge = (await (await fetch(`${r!.api.origin}/metrics`)).text()).match(/^ipv6_reconciliation_discrepancies\{kind="cpe_not_delegating"\} (\d+)/m)?.[1];
  assert.is(gauge, '2');
});

reported.run();

const repaired = suite('review12: cpe_not_delegating with reconcile.repair.cpe_not_delegating: repair');
let q: Rig | undefined;
repaired.before(async () => {
  q = await rig('repair');
});
repaired.after(async () => close(q));

repaired('a dry run would configure only the CPE switched off; the real run does, and the next run finds only the unknown CPE', async () => {
  await q!.call('POST', 'jobs/reconcile?dry_run=true');
  assert.equal((await kindOf(q!, 'cpe_not_delegating')).map((f) => [f.subscriber_id, f.action]), [
    ['s-gone', 'reported'],
    ['s-off', 'would_repair'],
  ]);
  const run = await q!.call('POST', 'jobs/reconcile');
  assert.is(run.body.counts.repaired, 1, JSON.stringify(run.body.counts));
  assert.is(q!.acs.value(q!.cpeOf['s-off']!, PD), true, 'the CPE delegates again');
  const again = await q!.call('POST', 'jobs/reconcile');
  assert.is(again.body.counts.repaired, 0);
  assert.equal((await kindOf(q!, 'cpe_not_delegating')).map((f) => [f.subscriber_id, f.action]), [['s-gone', 'reported']]);
  const events = (await q!.call('GET', 'lifecycle/s-off/events')).body.events.filter((e: { type: string }) => e.type === 'RECONCILED');
  assert.equal(events.map((e: any) => [e.detail.kind, e.detail.action, e.detail.repair]), [['cpe_not_delegating', 'repaired', 'cpe_configure_queued']]);
});

repaired.run();

const pure = suite('review12: compareActiveCpe and holdBackUnheld');
const view = { id: 'lc-1', subscriber_id: 's-1', state: 'active', pool: 'residential', prefix: '2001:db8::/56', username: 'u@isp', cpe_id: 'C-1', created_at: '', updated_at: '', settled: true, pending: false } as LifecycleView;

pure('an off CPE is repairable, a missing one only reported, and neither of an ipam_missing lifecycle is repaired', () => {
  const off = compareActiveCpe(view, { cpeId: 'C-1', pd: 'off', lastInform: '2026-12-01T00:00:00.000Z' })!;
  assert.equal([off.kind, off.repairable, off.detail], ['cpe_not_delegating', true, { pd: 'off', last_inform: '2026-12-01T00:00:00.000Z' }]);
  assert.is(compareActiveCpe(view, { cpeId: 'C-1', pd: 'missing', lastInform: null })!.repairable, false);
  assert.is(compareActiveCpe(view, { cpeId: 'C-1', pd: 'delegating', lastInform: null }), null);
  const found = [off, { kind: 'ipam_missing', lifecycle: view, username: null, prefix: view.prefix, cpeId: null, detail: {}, repairable: false } as Found];
  holdBackUnheld(found);
  assert.equal([off.repairable, off.detail.ipam_missing], [false, true]);
});

pure.run();
