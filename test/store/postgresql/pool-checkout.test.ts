// A connection whose backend ends in the very packet that says it is ready: what a new connection
// meets when the postmaster is SIGKILLed just as its backend starts (the backend finds its parent
// gone as soon as it waits for the first query: FATAL 57P01 from secure_read). pg reads both
// messages in one go; a client checked out for a transaction must already be guarded by then, or
// its 'error' event ends the process (an instance of the review died so, task hang7).
import { once } from 'node:events';
import { createServer, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createPgPool, inTransaction } from '../../../store/postgresql/pool.ts';
import { uncaughtDuring } from '../../support/uncaught.ts';

const test = suite('store/postgresql pool checkout');

/** One backend message: its type, then its length (itself included) and body. */
const message = (type: string, body: Buffer) => {
  const head = Buffer.alloc(5);
  head.write(type, 0, 'latin1');
  head.writeInt32BE(body.length + 4, 1);
  return Buffer.concat([head, body]);
};
const int32 = (n: number) => {
  const b = Buffer.alloc(4);
  b.writeInt32BE(n);
  return b;
};
const fields = (f: Record<string, string>) =>
  Buffer.concat([...Object.entries(f).map(([k, v]) => Buffer.from(`${k}${v}\0`, 'utf8')), Buffer.from([0])]);

/** A server that answers every startup with AuthenticationOk, ReadyForQuery and the FATAL, in one write. */
async function dyingBackend() {
  const sockets = new Set<Socket>();
  const server = createServer((socket) => {
    sockets.add(socket);
    socket.on('error', () => undefined);
    socket.once('data', () => {
      socket.end(
        Buffer.concat([
          message('R', int32(0)),
          message('Z', Buffer.from('I')),
          message('E', fields({ S: 'FATAL', V: 'FATAL', C: '57P01', M: 'terminating connection due to unexpected postmaster exit' })),
        ]),
      );
    });
  });
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const { port } = server.address() as AddressInfo;
  return {
    url: `postgres://u@127.0.0.1:${port}/db`,
    close: () => {
      for (const s of sockets) s.destroy();
      server.close();
    },
  };
}

test('inTransaction on a connection whose backend ends in its first packet → rejects; the process gets no unhandled error event', async () => {
  const backend = await dyingBackend();
  const pool = createPgPool({ url: backend.url, max: 1 });
  let rejected: unknown = null;
  const uncaught = await uncaughtDuring(async () => {
    try {
      await inTransaction(pool, async (c) => c.query('SELECT 1')).catch((err: unknown) => (rejected = err));
      // What the socket still delivers (its end) comes within the turn after the rejection.
      await new Promise((r) => setImmediate(r));
    } finally {
      await pool.end();
      backend.close();
    }
  });
  assert.ok(rejected, 'inTransaction rejects');
  assert.equal(uncaught.map((e) => e.message), [], 'uncaught errors: an instance dies of these when PostgreSQL is killed');
});

test.run();
