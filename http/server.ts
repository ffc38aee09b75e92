// The node:http server in front of the Koa app. Node answers what it cannot parse itself, before
// Koa sees a request: this gives those answers the service's error shape too.
import { randomUUID } from 'node:crypto';
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import type { Socket } from 'node:net';
import type { Logger } from 'pino';
import type { ApiErrorCode } from './schemas.ts';

/** Request line plus headers Node accepts (its own default, written down so the docs can say it). */
export const MAX_HEADER_BYTES = 16 * 1024;

type Answer = { status: number; reason: string; code: ApiErrorCode; message: string };

// Node's parser error codes (llhttp) and the answer each gets; anything else is a malformed request.
const ANSWERS: Record<string, Answer> = {
  HPE_HEADER_OVERFLOW: {
    status: 431,
    reason: 'Request Header Fields Too Large',
    code: 'headers_too_large',
    message: `the request line and headers exceed ${MAX_HEADER_BYTES} bytes`,
  },
  // Node's headersTimeout/requestTimeout: a request not received in full in time. Not malformed:
  // a client may send it again (RFC 9110 §15.5.9), with its Idempotency-Key.
  ERR_HTTP_REQUEST_TIMEOUT: {
    status: 408,
    reason: 'Request Timeout',
    code: 'request_timeout',
    message: 'the request was not received in full in time; send it again',
  },
};
const MALFORMED = { status: 400, reason: 'Bad Request', code: 'validation_error' as ApiErrorCode, message: 'malformed HTTP request' };

/** Writes an error-shaped answer straight to a socket Node gave no response for, and closes it. */
function endWith(socket: Socket, requestId: string, a: Answer): void {
  const body = JSON.stringify({ error: { code: a.code, message: a.message, field: null } });
  socket.end(
    `HTTP/1.1 ${a.status} ${a.reason}\r\n` +
      'Content-Type: application/json; charset=utf-8\r\n' +
      `Content-Length: ${Buffer.byteLength(body)}\r\n` +
      `X-Request-Id: ${requestId}\r\n` +
      'Connection: close\r\n\r\n' +
      body,
  );
}

/** Answers a request Node parsed but the service refuses before any route, in the error shape. */
function refuse(res: ServerResponse, log: Logger, why: string, field: string): void {
  const requestId = randomUUID();
  log.info({ request_id: requestId, status: 400, error: MALFORMED.code, field }, `request refused: ${why}`);
  const body = JSON.stringify({ error: { code: MALFORMED.code, message: `${MALFORMED.message}: ${why}`, field } });
  res.writeHead(400, { 'Content-Type': 'application/json; charset=utf-8', 'Content-Length': Buffer.byteLength(body), 'X-Request-Id': requestId, Connection: 'close' });
  res.end(body);
}

export function createHttpServer(listener: (req: IncomingMessage, res: ServerResponse) => void, log: Logger): Server {
  // Node's own refusals of an HTTP/1.1 request without Host (RFC 9112 §3.2) and of an Expect other
  // than 100-continue (a 417) are a bare status with an empty body, written past 'clientError': both
  // checks are made here instead, in the error shape. The Expect one is a 400 naming the header, as
  // RFC 9110 §10.1.1 leaves the 417 optional and the error table has no code for it.
  const noHost = (req: IncomingMessage) => req.httpVersionMajor === 1 && req.httpVersionMinor === 1 && req.headers.host === undefined;
  const server = createServer({ maxHeaderSize: MAX_HEADER_BYTES, requireHostHeader: false }, (req, res) => {
    if (noHost(req)) return refuse(res, log, 'an HTTP/1.1 request needs a Host header', 'Host');
    listener(req, res);
  });
  server.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) => {
    if (noHost(req)) return refuse(res, log, 'an HTTP/1.1 request needs a Host header', 'Host');
    refuse(res, log, 'Expect can only be 100-continue', 'Expect');
  });
  // CONNECT never reaches the request listener: with no 'connect' handler Node drops the connection
  // without a word. This is no proxy: 405 in the error shape, as any other method a route lacks.
  server.on('connect', (req: IncomingMessage, socket: Socket) => {
    const requestId = randomUUID();
    log.info({ request_id: requestId, status: 405, error: 'method_not_allowed' }, 'request refused: CONNECT');
    endWith(socket, requestId, { status: 405, reason: 'Method Not Allowed', code: 'method_not_allowed', message: `CONNECT is not allowed on ${req.url ?? ''}` });
  });
  server.on('clientError', (err: NodeJS.ErrnoException, socket: Socket) => {
    // A client gone, or a connection already answering: nothing to write to.
    if (err.code === 'ECONNRESET' || !socket.writable) {
      socket.destroy();
      return;
    }
    const a = (err.code && ANSWERS[err.code]) || MALFORMED;
    const requestId = randomUUID();
    log.info({ request_id: requestId, status: a.status, error: a.code, parser: err.code }, 'request refused by the HTTP parser');
    endWith(socket, requestId, a);
  });
  return server;
}
