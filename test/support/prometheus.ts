// Debian's real Prometheus and Alertmanager for end-to-end monitoring tests: each started on a free
// loopback port from a temporary directory (its config, its storage), stopped by its own PID and
// the directory removed. Alertmanager runs without gossip (an empty --cluster.listen-address).
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { freePort } from './soak-service.ts';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { parse, stringify } from 'yaml';
import { toolAvailable } from './tools.ts';

export const PROMETHEUS = '/usr/bin/prometheus';
export const ALERTMANAGER = '/usr/bin/prometheus-alertmanager';

/** One running server: its URL, PID, output so far, and a stop that waits for its exit. */
export interface Server {
  url: string;
  pid: number;
  dir: string;
  output(): string;
  stop(): Promise<void>;
}


async function launch(name: string, binary: string, args: (dir: string, port: number) => string[], files: (dir: string) => void): Promise<Server> {
  const dir = mkdtempSync(join(tmpdir(), `${name}-`));
  files(dir);
  const port = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const child: ChildProcess = spawn(binary, args(dir, port), { cwd: dir, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  let gone = false;
  void exited.then(() => (gone = true));
  const stop = async () => {
    if (!gone && child.pid) process.kill(child.pid, 'SIGTERM');
    const timer = setTimeout(() => !gone && child.pid && process.kill(child.pid, 'SIGKILL'), 5000);
    await exited;
    clearTimeout(timer);
    rmSync(dir, { recursive: true, force: true });
  };
  const deadline = Date.now() + 20_000;
  for (;;) {
    if (gone) {
      rmSync(dir, { recursive: true, force: true });
      throw new Error(`${name} exited before it was ready:\n${out}`);
    }
    const ready = await fetch(`${url}/-/ready`).then((r) => r.ok, () => false);
    if (ready) break;
    if (Date.now() > deadline) {
      await stop();
      throw new Error(`${name} not ready within 20 s:\n${out}`);
    }
    await new Promise((r) => setTimeout(r, 100));
  }
  return { url, pid: child.pid!, dir, output: () => out, stop };
}

/** Alertmanager routing every alert to one webhook, grouped per alert and pool, with waits of a second. */
export function startAlertmanager(webhookUrl: string): Promise<Server> {
  const config = {
    route: {
      receiver: 'test',
      group_by: ['alertname', 'pool'],
      group_wait: '1s',
      group_interval: '1s',
      repeat_interval: '1h',
    },
    receivers: [{ name: 'test', webhook_configs: [{ url: webhookUrl, send_resolved: true }] }],
  };
  return launch(
    'alertmanager',
    ALERTMANAGER,
    (dir, port) => [
      `--config.file=${join(dir, 'alertmanager.yml')}`,
      `--storage.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      '--cluster.listen-address=',
    ],
    (dir) => writeFileSync(join(dir, 'alertmanager.yml'), stringify(config)),
  );
}

export interface PrometheusOptions {
  /** host:port of the service's `/metrics`. */
  target: string;
  /** Rule file contents, written into the temporary directory. */
  rules?: Record<string, string>;
  alertmanagerUrl?: string;
  /** Scrape and evaluation interval; 1s unless given. */
  interval?: string;
}

/** Prometheus scraping one target, with rules and (optionally) an Alertmanager. */
export function startPrometheus(opts: PrometheusOptions): Promise<Server> {
  const interval = opts.interval ?? '1s';
  const ruleFiles = Object.keys(opts.rules ?? {});
  const config = {
    global: { scrape_interval: interval, evaluation_interval: interval, scrape_timeout: interval },
    rule_files: ruleFiles,
    ...(opts.alertmanagerUrl ? { alerting: { alertmanagers: [{ static_configs: [{ targets: [new URL(opts.alertmanagerUrl).host] }] }] } } : {}),
    scrape_configs: [{ job_name: 'ipv6-lifecycle', static_configs: [{ targets: [opts.target] }] }],
  };
  return launch(
    'prometheus',
    PROMETHEUS,
    (dir, port) => [
      `--config.file=${join(dir, 'prometheus.yml')}`,
      `--storage.tsdb.path=${join(dir, 'data')}`,
      `--web.listen-address=127.0.0.1:${port}`,
      // The default holds a firing alert back for a minute between sends to Alertmanager.
      '--rules.alert.resend-delay=1s',
    ],
    (dir) => {
      writeFileSync(join(dir, 'prometheus.yml'), stringify(config));
      for (const [name, text] of Object.entries(opts.rules ?? {})) writeFileSync(join(dir, name), text);
    },
  );
}

/** One instant-vector sample of the query API. */
export interface Sample {
  metric: Record<string, string>;
  value: [number, string];
}

/** `GET /api/v1/query`: the vector result (a scalar comes back as one sample without labels). */
export async function query(prometheusUrl: string, expr: string): Promise<Sample[]> {
  const res = await fetch(`${prometheusUrl}/api/v1/query?query=${encodeURIComponent(expr)}`);
  const body = (await res.json()) as { status: string; error?: string; data?: { resultType: string; result: unknown } };
  if (body.status !== 'success') throw new Error(`query ${expr}: ${body.error}`);
  const { resultType, result } = body.data!;
  if (resultType === 'scalar') return [{ metric: {}, value: result as [number, string] }];
  return result as Sample[];
}

/** Polls `check` until it answers something truthy, or throws with `what` after `ms`. */
export async function eventually<T>(what: string, ms: number, check: () => Promise<T | null | undefined | false>): Promise<T> {
  const deadline = Date.now() + ms;
  let last: unknown = null;
  for (;;) {
    try {
      const got = await check();
      if (got) return got;
    } catch (err) {
      last = err;
    }
    if (Date.now() > deadline) throw new Error(`${what}: not within ${ms} ms${last ? ` (last error: ${String(last)})` : ''}`);
    await new Promise((r) => setTimeout(r, 250));
  }
}

/** The project's rules with every `for:` cut to a second; the expressions are untouched. */
export function quickRules(file = 'alerts/ipv6-lifecycle.rules.yml'): string {
  const rules = parse(readFileSync(file, 'utf8')) as { groups: { rules: { for?: string }[] }[] };
  for (const rule of rules.groups.flatMap((g) => g.rules)) if (rule.for) rule.for = '1s';
  return stringify(rules);
}

/** Whether Debian's Prometheus and Alertmanager are here (with CI=true, a suite that fails says they are not). */
export const alertChainAvailable = (suiteName: string): boolean =>
  toolAvailable(suiteName, PROMETHEUS, 'apt-get install prometheus') && toolAvailable(suiteName, ALERTMANAGER, 'apt-get install prometheus-alertmanager');
