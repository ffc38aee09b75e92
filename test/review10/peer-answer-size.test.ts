// Review 10 (secrets10, left over): axios buffered a peer's answer of any size whole (a 4 MB one went
// through; a proxy or a broken NetBox streaming without end would take the process's memory). An
// answer over 32 MiB is cut off and reported as such, and the step retries as on any network fault.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ServiceError } from '../../services/errors.ts';
import { genieacsConfigSchema } from '../../services/genieacs/config.ts';
import { createGenieacsCpe } from '../../services/genieacs/genieacs.ts';
import { netboxConfigSchema } from '../../services/netbox/config.ts';
import { createNetboxIpam } from '../../services/netbox/netbox.ts';
import { PEER_ANSWER_MAX_BYTES } from '../../services/peer-url.ts';

const test = suite('review10: a peer answer over 32 MiB is not read');
let server: Server;
let url: string;
let sent = 0;

test.before(async () => {
  // 64 KiB chunks of a JSON string that never ends: the client has to stop reading.
  const chunk = Buffer.alloc(64 * 1024, 'a');
  server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'application/json' });
    res.write('"');
    const more = () => {
      while (!res.destroyed && sent < 4 * PEER_ANSWER_MAX_BYTES) {
        sent += chunk.length;
        if (!res.write(chunk)) return void res.once('drain', more);
      }
      res.end('"');
    };
    res.on('close', () => undefined);
    more();
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
test.after(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

async function failure(run: () => Promise<unknown>): Promise<ServiceError> {
  try {
    await run();
  } catch (err) {
    if (err instanceof ServiceError) return err;
    throw err;
  }
  throw new Error('the call succeeded');
}

test('GenieACS: an endless 200 → upstream_unavailable "an answer over 32 MiB", the rest never read', async () => {
  sent = 0;
  const cpe = createGenieacsCpe(genieacsConfigSchema.parse({ url, connection_request: true }), pino({ level: 'silent' }), { env: {} });
  const err = await failure(() => cpe.configurePd({ key: 'k', cpeId: 'OUI-PC-1', prefix: '2001:db8:100::/56' }));
  assert.is(err.code, 'upstream_unavailable');
  assert.match(err.message, /an answer over 32 MiB/);
  assert.ok(sent < 2 * PEER_ANSWER_MAX_BYTES, `the server got to send ${sent} bytes`);
});

test('NetBox: the same', async () => {
  sent = 0;
  const config = netboxConfigSchema.parse({ url });
  const ipam = createNetboxIpam(config, [{ name: 'p', prefixLength: 56, netbox: { parent_id: 1 } }], pino({ level: 'silent' }), { env: { NETBOX_TOKEN: '0123456789abcdef0123456789abcdef01234567' } });
  const err = await failure(() => ipam.init());
  assert.match(err.message, /an answer over 32 MiB/);
  assert.ok(sent < 2 * PEER_ANSWER_MAX_BYTES, `the server got to send ${sent} bytes`);
});

test.run();
