import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createCpeFieldReader } from '../../../services/field/cpe.ts';
import { genieacsConfigSchema } from '../../../services/genieacs/config.ts';
import { startGenieacsNbi } from '../../support/genieacs-nbi.ts';

const test = suite('field readers: CPE DHCPv6-PD state from the GenieACS NBI');

// The parameters configurePd sets (profiles.ts): what a CPE delegating a prefix holds.
const PD_ON = {
  'Device.IP.IPv6Enable': true,
  'Device.IP.Interface.2.IPv6Enable': true,
  'Device.DHCPv6.Client.1.RequestPrefixes': true,
  'Device.DHCPv6.Client.1.Enable': true,
} as const;

test('observe(): delegating, off and unknown devices, one projection query per batch, nothing queued', async () => {
  const nbi = await startGenieacsNbi();
  try {
  const ids: string[] = [];
  for (let i = 0; i < 5; i++) {
    const d = nbi.addDevice({ id: `00AABB-PD%2DCPE-F${i}` });
    if (i % 2 === 0) for (const [p, v] of Object.entries(PD_ON)) d.params.get(p)!.value = v;
    ids.push(d.id);
  }
  nbi.device(ids[0]!).lastInform = '2026-01-01T00:00:00.000Z';
  const reader = createCpeFieldReader(genieacsConfigSchema.parse({ url: nbi.url }), { env: {} });
  const seen = await reader.observe([...ids, '00AABB-PD-GONE', ids[0]!], { batchSize: 2 });
  assert.equal(
    [...seen.values()].map((o) => [o.cpeId, o.pd]).sort(),
    [...ids.map((id, i) => [id, i % 2 === 0 ? 'delegating' : 'off']), ['00AABB-PD-GONE', 'missing']].sort(),
  );
  assert.is(seen.get(ids[0]!)?.lastInform, '2026-01-01T00:00:00.000Z');
  const gets = nbi.requests.filter((r) => r.method === 'GET');
  assert.is(gets.length, 3, '6 distinct devices in batches of 2');
  assert.is(nbi.requests.length, 3, 'no task, no connection request');
  const first = new URL(gets[0]!.url, 'http://x');
  assert.equal(JSON.parse(first.searchParams.get('query')!), { _id: { $in: [ids[0], ids[1]] } });
  assert.equal(first.searchParams.get('projection')!.split(','), Object.keys(PD_ON));
  } finally {
    await nbi.close();
  }
});

test('observe(): a 5xx is a retryable upstream_unavailable, a 4xx upstream_rejected', async () => {
  const nbi = await startGenieacsNbi();
  const reader = createCpeFieldReader(genieacsConfigSchema.parse({ url: nbi.url }), { env: {} });
  nbi.failNext(1, { status: 503 });
  const down = await reader.observe(['A-B-C']).catch((e: unknown) => e as { code: string; retryable: boolean });
  assert.equal([(down as { code: string }).code, (down as { retryable: boolean }).retryable], ['upstream_unavailable', true]);
  nbi.failNext(1, { status: 400 });
  const bad = await reader.observe(['A-B-C']).catch((e: unknown) => e as { code: string });
  assert.is((bad as { code: string }).code, 'upstream_rejected');
  await nbi.close();
});

test.run();
