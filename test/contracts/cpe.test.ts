import pino from 'pino';
import { genieacsConfigSchema } from '../../services/genieacs/config.ts';
import { createFakeCpe } from '../../services/genieacs/fake.ts';
import { createGenieacsCpe } from '../../services/genieacs/genieacs.ts';
import { startGenieacsNbi, type GenieacsNbi } from '../support/genieacs-nbi.ts';
import { cpeContract } from './cpe-suite.ts';

// The fake keeps no task queue (a queued command is simply not applied), so it has no heldTasks.
cpeContract('fake', async () => {
  const fake = createFakeCpe();
  let n = 0;
  return {
    port: fake.port,
    addCpe(online) {
      const id = `00AABB-PD%2DCPE-FAKE${++n}`;
      fake.setOnline(id, online);
      return id;
    },
    bringOnline: (id) => fake.setOnline(id, true),
    takeOffline: (id) => fake.setOnline(id, false),
    pdEnabled: async (id) => (fake.cpe(id)?.prefix ?? null) !== null,
    close() {},
  };
});

/** Reads through the NBI, as an operator's script would, rather than from the stub's memory. */
async function nbiGet(nbi: GenieacsNbi, path: string): Promise<unknown[]> {
  const res = await fetch(`${nbi.url}${path}`);
  if (res.status !== 200) throw new Error(`GET ${path}: ${res.status}`);
  return (await res.json()) as unknown[];
}

const PD_PATHS = ['Device.IP.IPv6Enable', 'Device.IP.Interface.2.IPv6Enable', 'Device.DHCPv6.Client.1.Enable', 'Device.DHCPv6.Client.1.RequestPrefixes'];

cpeContract('genieacs on the stub NBI', async () => {
  const nbi = await startGenieacsNbi();
  const port = createGenieacsCpe(genieacsConfigSchema.parse({ url: nbi.url }), pino({ level: 'silent' }));
  return {
    port,
    addCpe: (online) => nbi.addDevice({ mode: online ? 'online' : 'offline' }).id,
    bringOnline: (id) => nbi.inform(id),
    takeOffline: (id) => nbi.setMode(id, 'offline'),
    async pdEnabled(id) {
      const q = encodeURIComponent(JSON.stringify({ _id: id }));
      const [doc] = await nbiGet(nbi, `/devices/?query=${q}&projection=${PD_PATHS.join(',')}`);
      const at = (path: string) => path.split('.').reduce<unknown>((n, k) => (n as Record<string, unknown> | undefined)?.[k], doc);
      return PD_PATHS.every((p) => (at(p) as { _value?: unknown } | undefined)?._value === true);
    },
    heldTasks: async (id) => (await nbiGet(nbi, `/tasks/?query=${encodeURIComponent(JSON.stringify({ device: id }))}`)).length,
    close: () => nbi.close(),
  };
});
