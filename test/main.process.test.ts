// The process as a user runs it for long (test/main.test.ts has --help and the configuration checks):
// one process per database; failed starts that leave nothing behind and exit 2; a graceful stop that
// answers every request in flight.
import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, chownSync, existsSync, mkdirSync, mkdtempSync, readdirSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startNetboxServer, V1_TOKEN } from './support/netbox-server.ts';

const test = suite('main.ts');
const dir = mkdtempSync(join(tmpdir(), 'main-test-'));

/** A running `main.ts`: its output so far, the URL once it listens, and how it ended. */
interface Proc {
  child: ChildProcess;
  out(): string;
  /** Resolves with the URL once the listening line is logged, or rejects with the exit code and output. */
  listening: Promise<string>;
  exited: Promise<number | null>;
}

function start(config: string, opts: { env?: NodeJS.ProcessEnv; uid?: number } = {}): Proc {
  const child = spawn(process.execPath, ['--import', 'tsx', 'main.ts', '--config', config], {
    env: { ...process.env, IPV6_LIFECYCLE_API_TOKEN: 'main-test-secret-token', ...opts.env },
    ...(opts.uid !== undefined ? { uid: opts.uid, gid: opts.uid } : {}),
  });
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
  const listening = new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`neither listening nor exited: ${output}`)), 20_000);
    child.stdout!.on('data', () => {
      const m = /"url":"(http:\/\/[^"]+)"/.exec(output);
      if (m) {
        clearTimeout(timer);
        resolve(m[1]!);
      }
    });
    void exited.then((code) => {
      clearTimeout(timer);
      reject(Object.assign(new Error(`exited ${code}: ${output}`), { code }));
    });
  });
  listening.catch(() => undefined);
  return { child, out: () => output, listening, exited };
}

/** A configuration file in a folder of its own; `database` is under `data/` there unless given. */
function configIn(name: string, yaml: (db: string) => string): { dir: string; file: string; db: string } {
  const where = join(dir, name);
  mkdirSync(where, { recursive: true });
  const db = join(where, 'data', 'svc.sqlite');
  const file = join(where, 'config.yaml');
  writeFileSync(file, yaml(db));
  return { dir: where, file, db };
}

const authed = { authorization: 'Bearer main-test-secret-token', 'content-type': 'application/json' };

test('a second process on the same database refuses to start naming the file and the holder PID; after SIGKILL of the holder it starts', async () => {
  const c = configIn('lock', (db) => `listen: { port: 0 }\ndatabase: ${db}\n`);
  const first = start(c.file);
  await first.listening;
  const second = start(c.file);
  const code = await second.exited;
  assert.is(code, 2, second.out());
  assert.match(second.out(), c.db);
  assert.match(second.out(), `PID ${first.child.pid}`);
  first.child.kill('SIGKILL');
  await first.exited;
  // The lock died with its process: nothing stale blocks the restart.
  const third = start(c.file);
  const url = await third.listening;
  assert.is((await fetch(`${url}/readyz`)).status, 200);
  third.child.kill('SIGTERM');
  assert.is(await third.exited, 0);
});

test('a database that is not writable: the start is refused, exit 2, naming the file', async () => {
  const c = configIn('readonly', (db) => `listen: { port: 0 }\ndatabase: ${db}\n`);
  const made = start(c.file);
  await made.listening;
  made.child.kill('SIGTERM');
  assert.is(await made.exited, 0);
  // Root writes through file permissions: run the second start as nobody, who can only read.
  const asRoot = process.getuid?.() === 0;
  chmodSync(c.db, 0o444);
  if (asRoot) chownSync(join(c.dir, 'data'), 0, 0);
  chmodSync(join(c.dir, 'data'), 0o755);
  chmodSync(c.dir, 0o755);
  chmodSync(dir, 0o755);
  const refused = start(c.file, asRoot ? { uid: 65534 } : {});
  assert.is(await refused.exited, 2, refused.out());
  assert.match(refused.out(), c.db);
  assert.match(refused.out(), /writ/);
});

test('a corrupt database names its file; exit 2; the file is untouched and nothing is added next to it', async () => {
  const c = configIn('corrupt', (db) => `listen: { port: 0 }\ndatabase: ${db}\n`);
  mkdirSync(join(c.dir, 'data'));
  writeFileSync(c.db, 'not a database at all, just text that goes on for a while. '.repeat(40));
  const r = start(c.file);
  assert.is(await r.exited, 2, r.out());
  assert.match(r.out(), c.db);
  assert.match(r.out(), /corrupt|not a SQLite database/);
  assert.equal(readdirSync(join(c.dir, 'data')), ['svc.sqlite']);
});

test('a start that fails after opening the store (the port is taken) exits 2 and leaves no database behind', async () => {
  const taken = createServer();
  await new Promise<void>((resolve) => taken.listen(0, '127.0.0.1', resolve));
  const port = (taken.address() as { port: number }).port;
  try {
    const c = configIn('port', (db) => `listen: { port: ${port} }\ndatabase: ${db}\n`);
    const r = start(c.file);
    assert.is(await r.exited, 2, r.out());
    assert.not.ok(existsSync(join(c.dir, 'data')), `left behind: ${existsSync(join(c.dir, 'data')) ? readdirSync(join(c.dir, 'data')).join(', ') : ''}`);
  } finally {
    taken.close();
  }
});

test('a database created at start-up is logged as new; the next start on it is not', async () => {
  const c = configIn('fresh', (db) => `listen: { port: 0 }\ndatabase: ${db}\n`);
  const isNew = (out: string) =>
    out
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as { msg: string; database?: string })
      .some((l) => /new/.test(l.msg) && l.database === c.db);
  for (const expected of [true, false]) {
    const r = start(c.file);
    await r.listening;
    r.child.kill('SIGTERM');
    assert.is(await r.exited, 0);
    assert.is(isNew(r.out()), expected, r.out());
  }
});

test('SIGTERM with 32 requests in flight: every one is answered (settled, or 202 with a Location), exit 0; the work resumes at the next start', async () => {
  const netbox = await startNetboxServer();
  const parent = netbox.addPrefix({ prefix: '2001:db8::/40', status: 'container' });
  const c = configIn('drain', (db) =>
    [
      'listen: { port: 0 }',
      `database: ${db}`,
      `netbox: { url: ${netbox.url}, timeout_ms: 10000 }`,
      `pools: [{ name: residential, prefix: 2001:db8::/40, prefix_length: 56, netbox: { parent_id: ${parent.id} } }]`,
      'runtime: { drain_ms: 300 }',
      '',
    ].join('\n'),
  );
  const env = { NETBOX_TOKEN: V1_TOKEN };
  try {
    const first = start(c.file, { env });
    const url = await first.listening;
    // Every allocation now waits for NetBox longer than the drain.
    netbox.delayMs = 1500;
    const subscribers = Array.from({ length: 32 }, (_, i) => `drain-${i}`);
    const answers = subscribers.map((id) =>
      fetch(`${url}/api/v1/network/ipv6/allocate?wait=20000`, { method: 'POST', headers: authed, body: JSON.stringify({ subscriber_id: id }) }).then(
        async (res) => ({ status: res.status, location: res.headers.get('location'), body: (await res.json()) as { subscriber_id?: string } }),
        (err: Error) => ({ status: 0, location: null, body: { error: String(err.cause ?? err) } }),
      ),
    );
    await new Promise((r) => setTimeout(r, 400));
    first.child.kill('SIGTERM');
    const got = await Promise.all(answers);
    assert.is(await first.exited, 0, first.out());
    const unanswered = got.filter((a) => a.status === 0);
    assert.is(unanswered.length, 0, `${unanswered.length} of 32 got no HTTP answer: ${JSON.stringify(unanswered[0])}`);
    for (const a of got) {
      assert.ok(a.status === 201 || a.status === 202, `status ${a.status}: ${JSON.stringify(a.body)}`);
      assert.ok(a.location?.endsWith(`/lifecycle/${a.body.subscriber_id}`), `Location ${a.location}`);
    }
    // The next start finishes what each 202 promised.
    netbox.delayMs = 0;
    const second = start(c.file, { env });
    const again = await second.listening;
    const deadline = Date.now() + 15_000;
    let states: string[] = [];
    while (Date.now() < deadline) {
      states = await Promise.all(
        subscribers.map((id) =>
          fetch(`${again}/api/v1/network/ipv6/lifecycle/${id}`, { headers: authed }).then(async (r) => (r.status === 200 ? ((await r.json()) as { state: string }).state : String(r.status))),
        ),
      );
      if (states.every((s) => s === 'allocated')) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    assert.equal(states, subscribers.map(() => 'allocated'));
    second.child.kill('SIGTERM');
    assert.is(await second.exited, 0);
  } finally {
    await netbox.close();
  }
});

test.run();
