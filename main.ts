// The process entry: arguments → configuration → compose → listen; signals stop it cleanly.
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { ConfigError, loadConfig } from './config.ts';
import { compose, type Composed } from './compose.ts';
import { checkRadiusBackend } from './services/radius/backends.ts';
import { requestIdFor } from './http/request-context.ts';
import { createHttpServer } from './http/server.ts';

/** The one exit code of a start that failed (configuration, database, lock, port): nothing was left behind. */
const EXIT_NOT_STARTED = 2;

const HELP = `ipv6-lifecycle: the lifecycle of delegated IPv6 prefixes (allocate, activate, suspend, revoke)

Usage: npm start -- [options]        (or: node --import tsx main.ts [options])

Options:
  -c, --config <file>   configuration file, JSON or YAML (default: $IPV6_LIFECYCLE_CONFIG,
                        else the embedded defaults: pool 2001:db8::/32 split into /56,
                        database ./data/ipv6-lifecycle.sqlite, API on 127.0.0.1:8080)
      --check-config    validate the configuration and the secrets it names (and log in to
                        a PostgreSQL/MariaDB radius.sql, checking its tables and grants),
                        print it without secrets, and exit
      --inspect         start the Stately inspector bridge (same as inspector.enabled: true)
  -h, --help            show this help

Environment:
  IPV6_LIFECYCLE_CONFIG      configuration file when --config is not given
  IPV6_LIFECYCLE_API_TOKEN   bearer token of the REST API (api.token_env names another variable);
                             unset: a random token is printed once at start-up
  NETBOX_TOKEN               NetBox API token (netbox.token_env names another variable)
  IPV6_LIFECYCLE_DATABASE_URL  PostgreSQL URL when store.backend is postgresql (several instances on
                             one database; store.url_env names another variable)

Exit status:
  0   stopped by SIGTERM or SIGINT after requests in flight were answered (runtime.drain_ms);
      SIGHUP is logged and ignored (no reload: the configuration is read at start only)
  2   did not start: invalid configuration, a database that is locked by another process,
      corrupt or not writable, a PostgreSQL store that cannot be reached or logged in to, or a
      port that cannot be bound; the message names the cause and no file was created
  1   failed while running

Every configuration key is documented in README.md ("Configuration reference").`;

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      config: { type: 'string', short: 'c' },
      'check-config': { type: 'boolean' },
      inspect: { type: 'boolean' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(`${HELP}\n`);
    return;
  }
  const config = loadConfig(values.config ?? process.env.IPV6_LIFECYCLE_CONFIG, process.env);
  if (values.inspect) config.inspector.enabled = true;
  if (values['check-config']) {
    // Inline secrets (allowed for throw-away setups) are masked like any other secret.
    const masked = JSON.stringify(config, (key, value: unknown) => (/secret$|token$/i.test(key) && typeof value === 'string' ? '***' : value), 2);
    // A PostgreSQL/MariaDB backend is logged into, its tables and grants checked: a wrong password shows here, not at start.
    if (config.radius) await checkRadiusBackend(config.radius, pino({ level: 'silent' }), process.env);
    process.stdout.write(`${masked}\n`);
    return;
  }

  const svc = await compose(config);
  // Node's default would kill the process at once, without the drain: a `kill -HUP` meant as a
  // reload, a logrotate script or a closed terminal must not drop the requests in flight, nor stop
  // a start half-way. From here on, before the port is bound and the lifecycles resumed.
  process.on('SIGHUP', () => svc.log.warn({ signal: 'SIGHUP' }, 'SIGHUP ignored: the configuration is read at start only; restart (SIGTERM, then start) to apply a change'));
  let stopping = false;
  const inFlight = new Set<ServerResponse>();
  const handle = svc.app.callback();
  const server = createHttpServer((req: IncomingMessage, res: ServerResponse) => {
    if (stopping) {
      // A request on a kept-alive connection after SIGTERM: not accepted, so not in flight.
      const incoming = req.headers['x-request-id'];
      res.writeHead(503, {
        'content-type': 'application/json',
        'retry-after': '1',
        'x-request-id': requestIdFor(Array.isArray(incoming) ? incoming[0] : incoming),
        connection: 'close',
      });
      res.end(JSON.stringify({ error: { code: 'unavailable', message: 'the service is stopping', field: null } }));
      return;
    }
    inFlight.add(res);
    res.once('close', () => inFlight.delete(res));
    void handle(req, res);
  }, svc.log);
  try {
    await new Promise<void>((resolve, reject) => {
      // The schema cannot see a host that does not resolve or a port taken: say which key to fix.
      server.once('error', (err) => reject(new Error(`listen.host/listen.port ${config.listen.host}:${config.listen.port} cannot be bound: ${err.message}`)));
      server.listen(config.listen.port, config.listen.host, resolve);
    });
    await svc.start();
  } catch (err) {
    server.close();
    // The cause is what the operator needs: a failing clean-up is logged, never put in its place.
    await svc.discard().catch((e: unknown) => svc.log.warn({ err: e instanceof Error ? e.message : String(e) }, 'clean-up after the refused start failed'));
    throw err;
  }
  const address = server.address();
  const where = typeof address === 'object' && address ? `http://${address.address.includes(':') ? `[${address.address}]` : address.address}:${address.port}` : '';
  if (svc.tokenGenerated) {
    // Printed once, on stderr, never through the logger (whose lines may be shipped); one JSON line
    // in the log's shape, so a collector that merges stdout and stderr still reads only JSON.
    const line = { level: 'warn', time: new Date().toISOString(), msg: `API token for this run (set ${config.api.token_env} to keep one)`, api_token: svc.token };
    process.stderr.write(`${JSON.stringify(line)}\n`);
  }
  svc.log.info({ url: where, database: config.database, ready: svc.ready(), reason: svc.notReady() }, 'ipv6-lifecycle listening');

  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    svc.log.info({ signal, in_flight: inFlight.size, drain_ms: config.runtime.drain_ms }, 'shutting down: no new connections, answering the requests in flight');
    void drain(server, svc, inFlight, config.runtime.drain_ms).then(
      () => process.exit(0),
      (err: unknown) => {
        svc.log.error({ err: String(err) }, 'shutdown failed');
        process.exit(1);
      },
    );
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

/**
 * Stops accepting, lets the requests in flight settle for up to `drainMs`, then ends their waits so
 * they answer 202 with a Location (their work is stored and resumes at the next start), then writes
 * what is queued and closes the store.
 */
async function drain(server: Server, svc: Composed, inFlight: Set<ServerResponse>, drainMs: number): Promise<void> {
  server.close();
  server.closeIdleConnections();
  const answered = () =>
    new Promise<void>((resolve) => {
      const check = () => (inFlight.size === 0 ? resolve() : setTimeout(check, 10));
      check();
    });
  const within = (ms: number) => Promise.race([answered().then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), ms))]);
  if (!(await within(drainMs))) {
    svc.release();
    // Each answers within a turn or two of the release; a handler stuck elsewhere gets no longer than this.
    if (!(await within(2000))) svc.log.warn({ in_flight: inFlight.size }, 'requests still unanswered at shutdown');
  }
  await svc.stop();
  server.closeAllConnections();
}

main().catch((err: unknown) => {
  const message = err instanceof ConfigError ? err.message : `ipv6-lifecycle failed to start: ${err instanceof Error ? err.message : String(err)}`;
  process.stderr.write(`${message}\n`);
  process.exit(EXIT_NOT_STARTED);
});
