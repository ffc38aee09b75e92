// One request/response exchange over UDP with retransmission. RADIUS gives no negative signal
// for a bad secret (the server drops the packet), so a timeout means "unknown" and the request is
// sent again: the same bytes and Identifier, so a NAS that did act on the first copy recognises
// the duplicate (RFC 5080 §2.2.2) instead of acting twice.
import { createSocket, type Socket } from 'node:dgram';
import { isIP } from 'node:net';

export interface ExchangeOptions {
  host: string;
  port: number;
  packet: Buffer;
  /** First wait; doubled after every retransmit (RFC 5080 §2.2.1). */
  timeoutMs: number;
  /** Retransmits after the first send. */
  retries: number;
  signal?: AbortSignal;
  /** True for a datagram that answers this request (Identifier, code, authenticator all right). */
  accept(datagram: Buffer): boolean;
  /** Told about datagrams that were ignored and socket errors that were ridden out. */
  onIgnored?(reason: string): void;
}

export interface ExchangeResult {
  /** The accepted answer; null when none came after every retransmit. */
  response: Buffer | null;
  /** How many times the request was sent. */
  attempts: number;
}

/** Sends `packet` on its own connected socket and waits for an accepted answer, retransmitting on timeout. */
export function exchange(opts: ExchangeOptions): Promise<ExchangeResult> {
  return new Promise<ExchangeResult>((resolve, reject) => {
    if (opts.signal?.aborted) {
      reject(opts.signal.reason);
      return;
    }
    const socket: Socket = createSocket(isIP(opts.host) === 6 ? 'udp6' : 'udp4');
    let attempts = 0;
    let wait = opts.timeoutMs;
    let timer: NodeJS.Timeout | undefined;
    let settled = false;

    const finish = (fn: () => void) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      opts.signal?.removeEventListener('abort', onAbort);
      try {
        socket.close();
      } catch {
        // already closed
      }
      fn();
    };
    const onAbort = () => finish(() => reject(opts.signal!.reason));
    const transmit = () => {
      attempts++;
      socket.send(opts.packet, (err) => {
        // ECONNREFUSED from an earlier ICMP port-unreachable: the NAS may still come up.
        if (err) opts.onIgnored?.(`send: ${err.message}`);
      });
      timer = setTimeout(() => {
        if (settled) return;
        if (attempts > opts.retries) {
          finish(() => resolve({ response: null, attempts }));
          return;
        }
        wait *= 2;
        transmit();
      }, wait);
    };

    opts.signal?.addEventListener('abort', onAbort, { once: true });
    // Connected sockets report ICMP errors as 'error' events; without a listener they would throw.
    socket.on('error', (err: NodeJS.ErrnoException) => {
      opts.onIgnored?.(`socket: ${err.message}`);
      // connect() on UDP only looks up a route; without one nothing can ever be sent.
      if (err.syscall === 'connect') finish(() => resolve({ response: null, attempts }));
    });
    socket.on('message', (datagram) => {
      if (settled) return;
      let ok = false;
      try {
        ok = opts.accept(datagram);
      } catch (err) {
        opts.onIgnored?.(`malformed answer: ${(err as Error).message}`);
        return;
      }
      if (ok) finish(() => resolve({ response: datagram, attempts }));
    });
    // connect() filters datagrams from any other address and port in the kernel.
    socket.connect(opts.port, opts.host, () => {
      if (!settled) transmit();
    });
  });
}
