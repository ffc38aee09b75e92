// The process the crash test kills: `node --import tsx test/support/crash-child.ts`.
//   CRASH_DIR   directory holding lifecycle.sqlite, radius.sqlite, peers.sqlite and kill-note.json
//   CRASH_MODE  `scenario`: run the scripted scenario on fresh files;
//               `recover`: compose on the files a killed run left, start() (which resumes every
//               lifecycle with a step in flight) amid new requests, wait until none is busy
//   CRASH_KILL  a kill point, `label#n`: SIGKILL at the n-th time the probe passes `label`
//   CRASH_HOLD  `1`: after the scenario, stay alive until killed (the parent kills at a random time)
//   CRASH_RUN   name of this run in the call log
//   CRASH_SCENARIO  `atonce`: the at-once scenario (crash-atonce-scenario.ts) through HTTP, with the
//               probed IPAM allocating synchronously as the embedded one does; otherwise the scripted
//               scenario on the actor path (the probed IPAM has no `allocateNow`, as NetBox has none)
// Without CRASH_DIR in the environment the child loads its modules, prints `ready`, and reads these
// variables as one JSON object from stdin: the parent starts children ahead of need, because loading
// the service through tsx takes longer than anything the test does.
// Prints one JSON line per milestone on stdout; logs (warn and up) go to stderr.
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { performance } from 'node:perf_hooks';
import { fileURLToPath } from 'node:url';
import type { Composed } from '../../compose.ts';
import type { IpamPort } from '../../services/ipam/port.ts';
import { AT_ONCE_TOKEN, runAtOnceClient } from './crash-atonce-client.ts';
import { openPeers } from './crash-peers.ts';
import { createAtOnceProbe, createKillSwitch, createProbe, probedCpe, probedIpam, probedReplies, probedSessions, probeStore, storedPath } from './crash-probe.ts';
import { CRASH_PHASES, CRASH_POOL, POST_START, PRE_START, cpeIdOf, usernameOf, type CrashOp } from './crash-scenario.ts';

const WAIT_MS = 10_000;
const env = process.env;

function fail(message: string): never {
  process.stderr.write(`crash-child: ${message}\n`);
  process.exit(1);
}

const say = (line: Record<string, unknown>) => process.stdout.write(`${JSON.stringify(line)}\n`);

/**
 * The service's modules, imported on demand: uvu's `test 'crash'` pattern imports this file into
 * the test process too, which needs none of them.
 */
async function loadService() {
  const [{ default: pino }, { compose }, { parseConfig }, { createEmbeddedIpam }, { radiusConfigSchema }, { createRadiusReplyStore }] = await Promise.all([
    import('pino'),
    import('../../compose.ts'),
    import('../../config.ts'),
    import('../../services/ipam/embedded.ts'),
    import('../../services/radius/config.ts'),
    import('../../services/radius/reply-store.ts'),
  ]);
  return { pino, compose, parseConfig, createEmbeddedIpam, createRadiusReplyStore, radiusConfigSchema };
}
type Service = Awaited<ReturnType<typeof loadService>>;

async function readJob(): Promise<void> {
  say({ event: 'ready' });
  const lines = createInterface({ input: process.stdin });
  for await (const line of lines) {
    Object.assign(env, JSON.parse(line) as Record<string, string>);
    break;
  }
  lines.close();
}

async function composeProbed(m: Service, dir: string, mode: string, atOnce = false) {
  const { pino, compose, parseConfig, createEmbeddedIpam, createRadiusReplyStore, radiusConfigSchema } = m;
  const log = pino({ level: 'warn' }, pino.destination(2));
  const kill = createKillSwitch(env.CRASH_KILL, join(dir, 'kill-note.json'));
  const radiusFile = join(dir, 'radius.sqlite');
  const radius = radiusConfigSchema.parse({ sql: { path: radiusFile, create_schema: true }, reply: { framed_prefix: 'first64' } });
  const replies = createRadiusReplyStore(radius, log);
  const peers = openPeers(join(dir, 'peers.sqlite'), radiusFile, env.CRASH_RUN ?? mode);
  const config = parseConfig({
    database: join(dir, 'lifecycle.sqlite'),
    pools: [CRASH_POOL],
    // Nothing here fails on purpose; a retry would only hide an error the checks should see.
    retry: { attempts: 1, base_ms: 0, max_ms: 0 },
    log: { level: 'warn' },
  });
  let composed: Composed | null = null;
  let ipam: IpamPort | null = null;
  const bound = () => composed ?? fail('probe used before compose() returned');
  const around = createProbe(kill, peers, {
    byId: (id) => bound().store.get(id),
    byUsername: (username) => bound().store.live(username.replace(/^user-/, '')),
  });
  const atOnceProbe = atOnce ? createAtOnceProbe(kill, peers, (id) => bound().store.get(id) !== undefined) : undefined;
  composed = await compose(config, {
    log,
    ...(atOnce ? { env: { IPV6_LIFECYCLE_API_TOKEN: AT_ONCE_TOKEN } } : {}),
    overrides: {
      ipam: probedIpam(() => ipam ?? fail('ipam used before compose() returned'), around, atOnceProbe),
      ipamKind: 'embedded',
      replies: probedReplies(replies, around, peers),
      sessions: probedSessions(peers.sessions, around),
      cpe: probedCpe(peers.cpe, around),
    },
  });
  // The embedded IPAM shares the service's connection, as buildIpam() in compose.ts arranges.
  ipam = createEmbeddedIpam(composed.db, [{ name: CRASH_POOL.name, prefix: CRASH_POOL.prefix, prefixLength: CRASH_POOL.prefix_length }]);
  probeStore(composed.store, kill, atOnceProbe);
  const stop = async () => {
    await composed!.stop();
    replies.close();
    peers.close();
  };
  return { c: composed, kill, stop, log, atOnceProbe };
}

/** One operation as a client makes it: an answer before the lifecycle settled means wait for it. */
async function runOp(c: Composed, subscriber: string, op: CrashOp): Promise<void> {
  const { service } = c;
  const req = { subscriber_id: subscriber };
  const result = await (() => {
    switch (op) {
      case 'allocate':
        return service.allocate(req, WAIT_MS);
      case 'activate':
        return service.activate({ ...req, username: usernameOf(subscriber), cpe_id: cpeIdOf(subscriber) }, WAIT_MS);
      case 'suspend':
        return service.suspend({ ...req, reason: 'crash test' }, WAIT_MS);
      case 'reactivate':
        return service.reactivate(req, WAIT_MS);
      case 'update':
        return service.update(req, WAIT_MS);
      case 'revoke':
        return service.revoke({ ...req, reason: 'crash test' }, WAIT_MS);
    }
  })();
  // Allocating for a subscriber whose lifecycle a restart is still resuming answers at once.
  if (!result.settled && !(await c.host.settle(result.lifecycle.lifecycle_id, WAIT_MS)).settled) {
    throw new Error(`${op} ${subscriber} did not settle in ${WAIT_MS} ms`);
  }
}

async function scenario(m: Service, dir: string): Promise<void> {
  const { c, kill, stop } = await composeProbed(m, dir, 'scenario');
  say({ event: 'scenario-start' });
  const started = performance.now();
  for (const phase of CRASH_PHASES) await Promise.all(phase.ops.map(([s, op]) => runOp(c, s, op)));
  const scenarioMs = Math.round(performance.now() - started);
  say({ event: 'scenario-done', scenarioMs, labels: Object.fromEntries(kill.counts) });
  if (env.CRASH_HOLD === '1') {
    setInterval(() => undefined, 60_000);
    return;
  }
  await stop();
}

async function recover(m: Service, dir: string): Promise<void> {
  const { c, stop } = await composeProbed(m, dir, 'recover');
  const inFlight = c.store.busy().map((id) => ({ id, state: storedPath(c.store.get(id)!) }));
  await runOp(c, PRE_START, 'allocate');
  await c.start();
  const late = (async () => {
    await runOp(c, POST_START, 'allocate');
    // An earlier recovery run may have activated it already.
    if ((await c.service.get(POST_START)).state === 'allocated') await runOp(c, POST_START, 'activate');
  })();
  await late;
  const deadline = Date.now() + WAIT_MS;
  while (c.store.busy().length > 0) {
    if (Date.now() > deadline) fail(`still busy after ${WAIT_MS} ms: ${c.store.busy().join(', ')}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  say({ event: 'recovered', resumed: inFlight.length, inFlight, states: c.store.countByState() });
  await stop();
}

/**
 * The at-once scenario: the first run starts on fresh files, a recovery on what a killed run left;
 * both send the whole scenario with the same Idempotency-Keys, as a client whose connections broke
 * sends its requests again, and the recovery then waits until no lifecycle is busy.
 */
async function atOnce(m: Service, dir: string, mode: string): Promise<void> {
  const { c, kill, stop, log, atOnceProbe } = await composeProbed(m, dir, mode, true);
  const inFlight = c.store.busy().map((id) => ({ id, state: storedPath(c.store.get(id)!) }));
  await c.start();
  let started = performance.now();
  const phaseMs: Record<string, number> = {};
  let phase: string | null = null;
  const lap = (next: string | null) => {
    if (phase) phaseMs[phase] = Math.round(performance.now() - started);
    started = performance.now();
    phase = next;
  };
  // Each phase is announced, so that the parent can time a random kill from the start of one.
  await runAtOnceClient(c, log, join(dir, 'client.sqlite'), env.CRASH_RUN ?? mode, (name) => {
    lap(name);
    if (mode === 'scenario') say({ event: name === 'burst' ? 'scenario-start' : `${name}-start` });
  });
  lap(null);
  const deadline = Date.now() + WAIT_MS;
  while (c.store.busy().length > 0) {
    if (Date.now() > deadline) fail(`still busy after ${WAIT_MS} ms: ${c.store.busy().join(', ')}`);
    await new Promise((resolve) => setTimeout(resolve, 5));
  }
  const labels = Object.fromEntries(kill.counts);
  if (mode === 'scenario') say({ event: 'scenario-done', scenarioMs: Object.values(phaseMs).reduce((a, b) => a + b, 0), phaseMs, labels, largestBatch: atOnceProbe!.largest });
  else say({ event: 'recovered', resumed: inFlight.length, inFlight, states: c.store.countByState(), labels, largestBatch: atOnceProbe!.largest });
  if (env.CRASH_HOLD === '1') {
    setInterval(() => undefined, 60_000);
    return;
  }
  await stop();
}

async function main(): Promise<void> {
  const m = await loadService();
  if (!env.CRASH_DIR) await readJob();
  const dir = env.CRASH_DIR || fail('CRASH_DIR is required');
  if (env.CRASH_SCENARIO === 'atonce') return atOnce(m, dir, env.CRASH_MODE === 'recover' ? 'recover' : 'scenario');
  await (env.CRASH_MODE === 'recover' ? recover(m, dir) : scenario(m, dir));
}

// uvu's `test 'crash'` pattern loads every file under test/ whose path matches, this one included.
if (process.argv[1] === fileURLToPath(import.meta.url)) {
  main().catch((err: unknown) => fail(err instanceof Error ? (err.stack ?? err.message) : String(err)));
}
