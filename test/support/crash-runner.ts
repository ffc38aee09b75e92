// Runs crash cases: a scenario run killed at a kill point (or at a random time), optionally a
// recovery run killed too, then a recovery run that must finish; then the checks on the files.
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createInterface } from 'node:readline';
import { fileURLToPath } from 'node:url';
import { checkConvergence, readKillNote, type Verdict } from './crash-checks.ts';
import type { KillNote } from './crash-probe.ts';

const CHILD = fileURLToPath(new URL('./crash-child.ts', import.meta.url));
const ROOT = fileURLToPath(new URL('../..', import.meta.url));

/** How a run is killed: at a named kill point (`label#n`), or by the parent `randomMs` after the scenario starts (or after the child's line `event: after`). */
export type Kill = string | { randomMs: number; after?: string };

export interface CrashCase {
  name: string;
  /** One killed run per entry (the first runs the scenario, the others recover); then a clean recovery. */
  kills: Kill[];
  /** `atonce`: the at-once scenario (crash-atonce-scenario.ts), judged by `check`; default the scripted one. */
  scenario?: 'atonce';
  /** Judges the files; default checkConvergence (crash-checks.ts). */
  check?: (dir: string, notes: KillNote[]) => Verdict;
}

export interface RunOutcome {
  mode: 'scenario' | 'recover';
  kill: Kill | null;
  code: number | null;
  signal: NodeJS.Signals | null;
  lines: Array<Record<string, unknown>>;
  stderr: string;
}

export interface CaseResult {
  name: string;
  runs: RunOutcome[];
  notes: KillNote[];
  problems: string[];
  repeated: string[];
  states: Record<string, number>;
  overlaps: string[];
  resumed: number | null;
  scenarioMs: number | null;
}

interface Warm {
  child: ChildProcess;
  lines: Array<Record<string, unknown>>;
  stderr: string[];
  ready: Promise<void>;
  closed: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  onLine: (line: Record<string, unknown>) => void;
}

/** Starts a child that loads its modules and waits for its job on stdin. */
function startWarm(): Warm {
  const child = spawn(process.execPath, ['--import', 'tsx', CHILD], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'], env: { ...process.env, CRASH_DIR: '' } });
  const w = { child, lines: [], stderr: [], onLine: () => undefined } as unknown as Warm;
  child.stderr!.setEncoding('utf8').on('data', (s: string) => w.stderr.push(s));
  // A child that died early closes its stdin; the job written to it is then simply lost.
  child.stdin!.on('error', () => undefined);
  let markReady: () => void = () => undefined;
  w.ready = new Promise((resolve) => (markReady = resolve));
  createInterface({ input: child.stdout! }).on('line', (text) => {
    let line: Record<string, unknown>;
    try {
      line = JSON.parse(text) as Record<string, unknown>;
    } catch {
      line = { text };
    }
    if (line.event === 'ready') return markReady();
    w.lines.push(line);
    w.onLine(line);
  });
  w.closed = new Promise((resolve) => child.on('close', (code, signal) => resolve({ code, signal })));
  // A child that dies before it is ready must not leave the caller waiting.
  void w.closed.then(markReady);
  return w;
}

/** Keeps `size` children loaded ahead of need; never starts more than `total`. */
export function createWarmPool(size: number, total: number) {
  let started = 0;
  const idle: Warm[] = [];
  const top = () => {
    while (idle.length < size && started < total) {
      idle.push(startWarm());
      started++;
    }
  };
  top();
  return {
    take(): Warm {
      const w = idle.shift() ?? (started++, startWarm());
      top();
      return w;
    },
    /** Ends the children nobody took (each by its own handle). */
    drain(): void {
      for (const w of idle.splice(0)) w.child.kill('SIGKILL');
    },
  };
}
export type WarmPool = ReturnType<typeof createWarmPool>;

async function run(pool: WarmPool, job: { dir: string; mode: 'scenario' | 'recover'; run: string; kill: Kill | null; hold: boolean; scenario?: string | undefined }): Promise<RunOutcome> {
  const w = pool.take();
  await w.ready;
  let timer: NodeJS.Timeout | null = null;
  const { kill } = job;
  if (kill !== null && typeof kill === 'object') {
    w.onLine = (line) => {
      if (line.event === (kill.after ?? 'scenario-start')) timer = setTimeout(() => w.child.kill('SIGKILL'), kill.randomMs);
    };
  }
  const vars = { CRASH_DIR: job.dir, CRASH_MODE: job.mode, CRASH_RUN: job.run, CRASH_KILL: typeof kill === 'string' ? kill : '', CRASH_HOLD: job.hold ? '1' : '', CRASH_SCENARIO: job.scenario ?? '' };
  w.child.stdin!.end(`${JSON.stringify(vars)}\n`);
  // A kill point that is never reached leaves a child that finishes (or, held, waits): do not wait forever.
  const guard = setTimeout(() => w.child.kill('SIGTERM'), 30_000);
  const { code, signal } = await w.closed;
  clearTimeout(guard);
  if (timer) clearTimeout(timer);
  return { mode: job.mode, kill, code, signal, lines: w.lines, stderr: w.stderr.join('') };
}

/** Runs one case in a fresh directory and judges the files it leaves. */
export async function runCase(pool: WarmPool, c: CrashCase): Promise<CaseResult> {
  const dir = mkdtempSync(join(tmpdir(), 'crash-'));
  const runs: RunOutcome[] = [];
  const notes: KillNote[] = [];
  const problems: string[] = [];
  try {
    for (const [i, kill] of c.kills.entries()) {
      const mode = i === 0 ? 'scenario' : 'recover';
      const r = await run(pool, { dir, mode, run: `${mode}-${i}`, kill, hold: typeof kill === 'object', scenario: c.scenario });
      runs.push(r);
      if (r.signal !== 'SIGKILL') problems.push(`run ${i} (${mode}) was to die by SIGKILL at ${JSON.stringify(kill)} but ended with code ${r.code}, signal ${r.signal}: ${r.stderr.slice(-500)}`);
      const note = readKillNote(dir);
      if (note) notes.push(note);
      rmSync(join(dir, 'kill-note.json'), { force: true });
    }
    if (c.kills.length === 0) {
      const r = await run(pool, { dir, mode: 'scenario', run: 'scenario-0', kill: null, hold: false, scenario: c.scenario });
      runs.push(r);
      if (r.code !== 0) problems.push(`the scenario without a kill failed (code ${r.code}, signal ${r.signal}): ${r.stderr.slice(-500)}`);
    }
    const last = await run(pool, { dir, mode: 'recover', run: `recover-${runs.length}`, kill: null, hold: false, scenario: c.scenario });
    runs.push(last);
    if (last.code !== 0) problems.push(`recovery failed (code ${last.code}, signal ${last.signal}): ${last.stderr.slice(-1500)}`);
    const verdict = problems.length ? { problems: [], repeated: [], states: {}, overlaps: [] } : (c.check ?? checkConvergence)(dir, notes);
    const recovered = last.lines.find((l) => l.event === 'recovered');
    const done = runs[0]?.lines.find((l) => l.event === 'scenario-done');
    return {
      name: c.name,
      runs,
      notes,
      problems: [...problems, ...verdict.problems],
      repeated: verdict.repeated,
      states: verdict.states,
      overlaps: verdict.overlaps,
      resumed: typeof recovered?.resumed === 'number' ? recovered.resumed : null,
      scenarioMs: typeof done?.scenarioMs === 'number' ? done.scenarioMs : null,
    };
  } finally {
    if (!process.env.CRASH_KEEP) rmSync(dir, { recursive: true, force: true });
  }
}

/** Runs cases `concurrency` at a time, keeping the order of the results. */
export async function runCases(pool: WarmPool, cases: CrashCase[], concurrency: number): Promise<CaseResult[]> {
  const results: CaseResult[] = new Array(cases.length);
  let next = 0;
  const worker = async () => {
    while (next < cases.length) {
      const i = next++;
      results[i] = await runCase(pool, cases[i]!);
    }
  };
  await Promise.all(Array.from({ length: concurrency }, worker));
  return results;
}
