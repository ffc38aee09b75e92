// Review 14: an NBI (or a proxy in front of it) that closes a connection after an answer without
// announcing `Connection: close`. HTTP/1.1 lets a server close an idle persistent connection at any
// time (RFC 9112 section 9.5), and Node 20's global agent keeps connections alive: the client's
// next call, sent at once, went out on the closed socket and failed ECONNRESET, every time.
import pino from 'pino';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { genieacsConfigSchema } from '../../services/genieacs/config.ts';
import { createGenieacsCpe } from '../../services/genieacs/genieacs.ts';
import { startScriptedNbi, type ScriptedNbi, type ScriptedRequest } from './genieacs-scripted-nbi.ts';

const ID = '00236a-SR552n-SR552NA084%2D0003269';
const TASK = { _id: '5f0c0b0a0e0d0c0b0a090807', name: 'setParameterValues', device: ID };
const test = suite('REVIEW14 GenieACS: the NBI closes each connection after its answer');
const open: ScriptedNbi[] = [];
test.after.each(async () => void (await Promise.all(open.splice(0).map((n) => n.close()))));

async function client(opts: { gzip?: boolean } = {}) {
  const nbi = await startScriptedNbi((r: ScriptedRequest) => ({
    ...(r.method === 'POST' ? { status: 200, body: TASK } : { status: 200, body: [] }),
    closeAfter: true,
    gzip: opts.gzip ?? false,
  }));
  open.push(nbi);
  const cpe = createGenieacsCpe(genieacsConfigSchema.parse({ url: nbi.url }), pino({ level: 'silent' }), { env: {} });
  return { nbi, cpe };
}

test('configurePd() twice: GET /tasks/ then POST each time, all answered, both done', async () => {
  const { nbi, cpe } = await client();
  for (const n of [1, 2]) assert.equal(await cpe.configurePd({ key: `lc-1:configurePd:${n}`, cpeId: ID, prefix: '2001:db8::/56' }), { status: 'done' });
  assert.equal(
    nbi.requests.map((r) => `${r.method} ${r.path}`),
    ['GET /tasks/', `POST /devices/${encodeURIComponent(ID)}/tasks`, 'GET /tasks/', `POST /devices/${encodeURIComponent(ID)}/tasks`],
  );
});

test('configurePd() with gzip-encoded answers on closing connections: done', async () => {
  const { nbi, cpe } = await client({ gzip: true });
  assert.equal(await cpe.configurePd({ key: 'lc-1:configurePd:1', cpeId: ID, prefix: '2001:db8::/56' }), { status: 'done' });
  assert.ok(nbi.requests.every((r) => /gzip/.test(r.acceptEncoding)), 'the client offers gzip');
});

test.run();
