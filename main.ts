// The process entry: arguments → configuration → compose → listen; signals stop it cleanly.
import { createServer } from 'node:http';
import { parseArgs } from 'node:util';
import { ConfigError, loadConfig } from './config.ts';
import { compose } from './compose.ts';

const HELP = `ipv6-lifecycle: the lifecycle of delegated IPv6 prefixes (allocate, activate, suspend, revoke)

Usage: npm start -- [options]        (or: node --import tsx main.ts [options])

Options:
  -c, --config <file>   configuration file, JSON or YAML (default: $IPV6_LIFECYCLE_CONFIG,
                        else the embedded defaults: pool 2001:db8::/32 split into /56,
                        database ./data/ipv6-lifecycle.sqlite, API on 127.0.0.1:8080)
      --check-config    validate the configuration and the secrets it names, print it
                        without secrets, and exit
      --inspect         start the Stately inspector bridge (same as inspector.enabled: true)
  -h, --help            show this help

Environment:
  IPV6_LIFECYCLE_CONFIG      configuration file when --config is not given
  IPV6_LIFECYCLE_API_TOKEN   bearer token of the REST API (api.token_env names another variable);
                             unset: a random token is printed once at start-up
  NETBOX_TOKEN               NetBox API token (netbox.token_env names another variable)

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
    process.stdout.write(`${masked}\n`);
    return;
  }

  const svc = await compose(config);
  const server = createServer(svc.app.callback());
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen(config.listen.port, config.listen.host, resolve);
  });
  const address = server.address();
  const where = typeof address === 'object' && address ? `http://${address.address.includes(':') ? `[${address.address}]` : address.address}:${address.port}` : '';
  if (svc.tokenGenerated) {
    // Printed once, on stderr, never through the logger (whose lines may be shipped); one JSON line
    // in the log's shape, so a collector that merges stdout and stderr still reads only JSON.
    const line = { level: 'warn', time: new Date().toISOString(), msg: `API token for this run (set ${config.api.token_env} to keep one)`, api_token: svc.token };
    process.stderr.write(`${JSON.stringify(line)}\n`);
  }
  await svc.start();
  svc.log.info({ url: where, database: config.database }, 'ipv6-lifecycle listening');

  let stopping = false;
  const shutdown = (signal: string) => {
    if (stopping) return;
    stopping = true;
    svc.log.info({ signal }, 'shutting down');
    server.close();
    server.closeAllConnections();
    // In-flight steps are not waited for: their snapshots are stored and they resume at the next start.
    void svc.stop().then(() => process.exit(0));
  };
  process.on('SIGTERM', () => shutdown('SIGTERM'));
  process.on('SIGINT', () => shutdown('SIGINT'));
}

main().catch((err: unknown) => {
  if (err instanceof ConfigError) {
    process.stderr.write(`${err.message}\n`);
    process.exit(2);
  }
  process.stderr.write(`ipv6-lifecycle failed to start: ${err instanceof Error ? err.message : String(err)}\n`);
  process.exit(1);
});
