// A request Node's server did not receive in full within its headersTimeout/requestTimeout (a
// slow client, or an event loop held for a minute) was answered 400 "malformed HTTP request": a
// client reads that as "my request is wrong, do not send it again". It is 408 Request Timeout,
// in the error shape, which a client may send again (with its Idempotency-Key).
import { connect, type Socket } from 'node:net';
import pino from 'pino';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { createHttpServer } from '../../http/server.ts';

const test = suite('review14: Node request timeout → 408 in the error shape');

test("the parser's ERR_HTTP_REQUEST_TIMEOUT is answered 408 request_timeout, JSON, with an X-Request-Id, and closes", async () => {
  const server = createHttpServer((_req, res) => res.end('never'), pino({ level: 'silent' }));
  let serverSide: Socket | null = null;
  server.on('connection', (s: Socket) => (serverSide = s));
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  const client = connect((server.address() as { port: number }).port, '127.0.0.1');
  try {
    await new Promise<void>((r) => client.once('connect', r));
    while (!serverSide) await new Promise((r) => setImmediate(r));
    client.write('POST /api/v1/network/ipv6/allocate HTTP/1.1\r\nHost: x\r\n');
    let text = '';
    client.on('data', (d) => (text += d.toString('utf8')));
    const closed = new Promise<void>((r) => client.once('close', () => r()));
    // What Node's connection check emits for a request still incomplete past its timeout.
    server.emit('clientError', Object.assign(new Error('Request timeout'), { code: 'ERR_HTTP_REQUEST_TIMEOUT' }), serverSide);
    await closed;
    const [head = '', body = ''] = text.split('\r\n\r\n');
    assert.is(head.split('\r\n')[0], 'HTTP/1.1 408 Request Timeout');
    assert.match(head, /\r\nContent-Type: application\/json/i);
    assert.match(head, /\r\nX-Request-Id: \S+/i);
    assert.equal(JSON.parse(body), { error: { code: 'request_timeout', message: 'the request was not received in full in time; send it again', field: null } });
  } finally {
    client.destroy();
    server.close();
  }
});

test.run();
