// The floor under the allocate bench: a bare node:http server in its own process, driven by the
// same client as `POST /allocate` (bench/http-allocate.ts `drive`: keep-alive, 50 in flight, the
// same request), that reads the body, parses it and answers 201 with a lifecycle resource of the
// same size, and nothing else: no Koa, no auth, no store. Its CPU per request is what any
// allocation through node:http costs here before the service does anything. `--koa` puts a bare Koa
// app between (one middleware: read the body, answer the resource): what Koa alone adds.
//   node --import tsx bench/bare-http.ts [requests, 10,000 unless given] [--koa]
import { fork } from 'node:child_process';
import { createServer } from 'node:http';
import { fileURLToPath } from 'node:url';
import Koa from 'koa';
import { drive } from './http-allocate.ts';

// A resource as POST /allocate answers it (runtime/projection.ts `resourceOf`), with its byte count.
const RESOURCE = {
  lifecycle_id: '0190a000-0000-7000-8000-000000000001',
  subscriber_id: 'sub-1',
  state: 'allocated',
  prefix: '2001:db8:100::/56',
  prefix_length: 56,
  pool: 'default',
  netbox_prefix_id: null,
  username: null,
  cpe_id: null,
  allocated_at: '2026-12-01T22:00:00.000Z',
  activated_at: null,
  reactivated_at: null,
  suspended_at: null,
  revoked_at: null,
  updated_at: '2026-12-01T22:00:00.000Z',
  pending: [],
  failure: null,
  last_error: null,
  in_progress: null,
};

/** The bare server: its port and CPU over IPC, as the service end of bench/http-allocate.ts reports them. */
function serve(koa: boolean) {
  const app = new Koa();
  app.use(async (ctx) => {
    const chunks: Buffer[] = [];
    for await (const c of ctx.req) chunks.push(c as Buffer);
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { subscriber_id: string };
    ctx.status = 201;
    ctx.body = { ...RESOURCE, subscriber_id: body.subscriber_id };
  });
  const server = createServer(koa ? app.callback() : (req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      const body = JSON.parse(Buffer.concat(chunks).toString('utf8')) as { subscriber_id: string };
      const text = JSON.stringify({ ...RESOURCE, subscriber_id: body.subscriber_id });
      res.writeHead(201, { 'content-type': 'application/json; charset=utf-8', 'content-length': Buffer.byteLength(text) });
      res.end(text);
    });
  });
  server.listen(0, '127.0.0.1', () => process.send!({ port: (server.address() as { port: number }).port }));
  process.on('message', () => process.send?.({ cpu: process.cpuUsage() }));
  process.on('SIGTERM', () => (server.close(), server.closeAllConnections(), process.exit(0)));
}

/** `n` requests to the bare server, 50 at a time: requests per second and its CPU per request. */
export async function benchBareHttp(n: number, koa = false) {
  const child = fork(fileURLToPath(import.meta.url), ['serve', ...(koa ? ['--koa'] : [])], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'ignore', 'inherit', 'ipc'] });
  const port = await new Promise<number>((resolve) => child.once('message', (m) => resolve((m as { port: number }).port)));
  const svc = {
    port,
    cpu: () => new Promise<NodeJS.CpuUsage>((resolve) => (child.once('message', (m) => resolve((m as { cpu: NodeJS.CpuUsage }).cpu)), child.send('cpu'))),
    stop: () => new Promise<void>((resolve) => (child.once('exit', () => resolve()), child.kill('SIGTERM'))),
  };
  try {
    // A warm-up (the JIT), then the measured run.
    await drive(svc, 2000, 50, (i) => [['allocate', { subscriber_id: `sub-${i}` }, 201]]);
    return await drive(svc, n, 50, (i) => [['allocate', { subscriber_id: `sub-${i}` }, 201]]);
  } finally {
    await svc.stop();
  }
}

if (process.argv[1] === fileURLToPath(import.meta.url)) {
  const koa = process.argv.includes('--koa');
  if (process.argv[2] === 'serve') serve(koa);
  else {
    const n = Number(process.argv.slice(2).find((a) => !a.startsWith('--')) ?? 10_000);
    const run = await benchBareHttp(n, koa);
    if (run.failures) throw new Error(`${run.failures} requests failed`);
    console.log(`${koa ? 'bare Koa on node:http' : 'bare node:http'}, ${n.toLocaleString('en')} requests 50 at a time: ${Math.round(run.perSecond).toLocaleString('en')}/s, CPU per request ${run.cpuUsPerOp.toFixed(0)} µs (the server's process)`);
  }
}
