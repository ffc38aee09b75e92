// Review 10 (secrets10, left over): a 200 from the GenieACS URL that is not the NBI's task (a proxy's
// login page, a wrong genieacs.url) was taken for "CPE applied the task": an activation answered
// active while the CPE never got its DHCPv6-PD settings. The NBI's 200 to POST …/tasks carries the
// task it ran, as JSON; anything else is refused, naming the URL to check.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import pino from 'pino';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { ServiceError } from '../../services/errors.ts';
import { genieacsConfigSchema } from '../../services/genieacs/config.ts';
import { createGenieacsCpe } from '../../services/genieacs/genieacs.ts';

const test = suite('review10: a 200 that is not the NBI\'s task is no applied task');
let server: Server;
let url: string;
let body = '<html><body>Sign in</body></html>';
let type = 'text/html';

test.before(async () => {
  server = createServer((req, res) => {
    // A JSON server here is the NBI (its GET /tasks/ answers a list); the login page answers everything.
    if (type === 'application/json' && req.method === 'GET' && req.url?.startsWith('/tasks/')) return void res.writeHead(200, { 'content-type': type }).end('[]');
    res.writeHead(200, { 'content-type': type }).end(body);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
});
test.after(async () => {
  server.closeAllConnections();
  await new Promise((r) => server.close(r));
});

const cpe = () => createGenieacsCpe(genieacsConfigSchema.parse({ url, connection_request: true }), pino({ level: 'silent' }), { env: {} });

async function refusal(run: () => Promise<unknown>): Promise<ServiceError> {
  try {
    const out = await run();
    assert.unreachable(`taken for an answer: ${JSON.stringify(out)}`);
  } catch (err) {
    if (!(err instanceof ServiceError)) throw err;
    return err;
  }
  throw new Error('unreachable');
}

test('configurePd and removeIpv6 answered 200 text/html → upstream_rejected naming genieacs.url', async () => {
  for (const run of [() => cpe().configurePd({ key: 'k1', cpeId: 'OUI-PC-1', prefix: '2001:db8:100::/56' }), () => cpe().removeIpv6({ key: 'k2', cpeId: 'OUI-PC-1' })]) {
    const err = await refusal(run);
    assert.is(err.code, 'upstream_rejected');
    assert.match(err.message, /genieacs\.url/);
  }
});

test('a 200 with JSON that is no task (an empty object, a list) is refused too', async () => {
  type = 'application/json';
  for (const text of ['{}', '[]', '"ok"']) {
    body = text;
    const err = await refusal(() => cpe().configurePd({ key: 'k3', cpeId: 'OUI-PC-1', prefix: '2001:db8:100::/56' }));
    assert.is(err.code, 'upstream_rejected', text);
  }
});

test('the NBI\'s own 200 (the task it ran, with its _id) is still done', async () => {
  type = 'application/json';
  body = JSON.stringify({ _id: '6570a1b2c3d4e5f601234567', name: 'setParameterValues', device: 'OUI-PC-1' });
  assert.equal(await cpe().configurePd({ key: 'k4', cpeId: 'OUI-PC-1', prefix: '2001:db8:100::/56' }), { status: 'done' });
});

test.run();
