import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Logger } from 'pino';
import { configure } from 'safe-stable-stringify';
import { WebSocket, WebSocketServer } from 'ws';
import type { InspectionEvent } from 'xstate';

// The Stately inspector bridge: a WebSocket server that the browser page showing stately.ai/inspect
// connects to, fed in-process with every actor's inspection events. The library's own bridge server
// listens on every interface and takes no host, so this one is ours: it binds `inspector.host`
// (loopback by default), because whoever connects reads every event and context of every lifecycle
// (usernames, CPE ids, prefixes) without authentication. The service needs no socket of its own to
// it (the library's client would reconnect every 5 s once the server is gone).

/** How many recent messages a browser that connects late is sent first. */
const REPLAY = 200;

export interface InspectorOptions {
  host: string;
  port: number;
  log: Logger;
}

export interface Inspector {
  inspect: (ev: InspectionEvent) => void;
  /** Where it listens (the port is the one bound, for port 0). */
  address: AddressInfo;
  stop: () => void;
}

/** The page a browser opens at the bridge: it relays what the socket says to the inspector frame. */
function page(socketUrl: string): string {
  return `<!doctype html><meta charset="utf-8"><title>ipv6-lifecycle: Stately inspector</title>
<style>html,body,iframe{margin:0;width:100%;height:100%;border:0}</style>
<iframe id="ui" src="https://stately.ai/inspect"></iframe>
<script>
  // Hold messages until the inspector frame says it is listening, then forward each as it comes.
  const ui = document.getElementById('ui'); const held = []; let ready = false;
  addEventListener('message', (e) => { if (e.data && e.data.type === '@statelyai.connected') { ready = true; held.splice(0).forEach((m) => ui.contentWindow.postMessage(m, '*')); } });
  new WebSocket(${JSON.stringify(socketUrl)}).onmessage = (e) => { const m = JSON.parse(e.data); ready ? ui.contentWindow.postMessage(m, '*') : held.push(m); };
</script>`;
}

/** A URL for `host`: an unspecified address is reached through loopback; an IPv6 literal goes in brackets. */
function urlHost(host: string): string {
  if (host === '0.0.0.0' || host === '') return '127.0.0.1';
  if (host === '::') return '[::1]';
  return host.includes(':') ? `[${host}]` : host;
}

export async function startInspector(opts: InspectorOptions): Promise<Inspector> {
  // The serializer the library's own socket adapter writes events with (contexts can be cyclic).
  const stringify = configure({ maximumDepth: 10 });
  const { createInspector } = await import('@statelyai/inspect');
  let socketUrl = '';
  const http = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8' });
    res.end(page(socketUrl));
  });
  const wss = new WebSocketServer({ server: http });
  // ws re-emits the HTTP server's errors (EADDRINUSE at listen): unheard, one ends the process
  // instead of refusing the start; the listen below turns that one into the start's error.
  wss.on('error', (err) => opts.log.warn({ err: err.message }, 'inspector bridge error'));
  // Viewers only: what a browser sends is not passed on to the others.
  const recent: string[] = [];
  wss.on('connection', (socket) => {
    for (const m of recent) socket.send(m);
  });
  const adapter = {
    start() {},
    stop() {},
    send(event: unknown) {
      const m = stringify(event);
      if (m === undefined) return;
      recent.push(m);
      if (recent.length > REPLAY) recent.shift();
      for (const socket of wss.clients) if (socket.readyState === WebSocket.OPEN) socket.send(m);
    },
  };
  const inspector = createInspector(adapter);
  await new Promise<void>((resolve, reject) => {
    http.once('error', (err) => reject(new Error(`inspector.host/inspector.port ${opts.host}:${opts.port} cannot be bound: ${err.message}`)));
    http.listen(opts.port, opts.host, () => resolve());
  });
  const address = http.address() as AddressInfo;
  const where = `${urlHost(opts.host)}:${address.port}`;
  socketUrl = `ws://${where}`;
  opts.log.warn(
    { host: opts.host, port: address.port, exposes: 'every lifecycle event and context (usernames, CPE ids, prefixes)', authentication: 'none' },
    `Stately inspector bridge on http://${where}: whoever connects sees every lifecycle's events and context, without authentication`,
  );
  return {
    inspect: (ev) => inspector.inspect.next?.(ev),
    address,
    stop: () => {
      // Closing the servers leaves open sockets open: end them, or they keep the process alive.
      for (const socket of wss.clients) socket.terminate();
      wss.close();
      http.closeAllConnections();
      http.close();
    },
  };
}
