// Where an allocation's CPU goes: runs the allocate bench with the service under `--cpu-prof`, then
// prints the top self-time functions and the self time per package (or our own file).
//   [BENCH_PROFILE_OUT=file.cpuprofile] node --import tsx bench/profile-allocate.ts [allocations] [--stub]
// --stub profiles the HTTP stack alone: the service stubbed, as the bench's floor (benchHttpStack).
import { copyFileSync, readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { benchHttpAllocate, benchHttpStack } from './http-allocate.ts';
import { scratchDir } from './support.ts';

interface ProfileNode {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  hitCount?: number;
  children?: number[];
}

// Inclusive time of these (a sample counts once per name on its stack): the suspects of the hot path.
const INCLUSIVE = ['saveBatchTx', 'sqliteTransaction', 'persist', 'createActor', 'getPersistedSnapshot', 'toRow', 'requestContext', 'parseInput', 'bodyParser', 'writeReply', 'allocate', 'flush', 'write', 'stringify', 'child', 'handleRequest', 'parserOnHeadersComplete', 'end',
  // The allocation made at once (runtime/at-once.ts) and what it calls.
  'createAtOnce', '#write', 'allocateAtOnce', 'allocateNow', 'getInitialSnapshot', 'transition', 'transitionOf', 'encodeSnapshot', 'auditDetail',
  // Its snapshots filled in from the template (runtime/allocation-template.ts), or by XState when the check failed.
  'fromTemplate', 'createdFrom', 'allocatedFrom', 'viaXState', 'initialContext', 'sameRow',
  '#committed', 'toResource', 'resourceOf', 'exclusive', '#within', 'withLogScope', 'info',
  // http/body.ts's own reading of a plain JSON body.
  'readText', 'parseStrict'];

const n = Number(process.argv.slice(2).find((a) => !a.startsWith('--')) ?? 5000);
const stub = process.argv.includes('--stub');
const scratch = scratchDir();
try {
  const run = await (stub ? benchHttpStack : benchHttpAllocate)(n, 50, ['--cpu-prof', '--cpu-prof-dir', scratch.dir]);
  console.log(`${Math.round(run.perSecond)} allocations/s, ${run.cpuUsPerOp.toFixed(0)} µs CPU each (profiler on: slower than the bench)`);
  const file = readdirSync(scratch.dir).find((f) => f.endsWith('.cpuprofile'));
  if (!file) throw new Error('no .cpuprofile written');
  // BENCH_PROFILE_OUT=path keeps the profile (for Chrome's DevTools or speedscope).
  if (process.env.BENCH_PROFILE_OUT) copyFileSync(join(scratch.dir, file), process.env.BENCH_PROFILE_OUT);
  const profile = JSON.parse(readFileSync(join(scratch.dir, file), 'utf8')) as {
    nodes: ProfileNode[];
    samples: number[];
    timeDeltas: number[];
  };
  const nodes = new Map(profile.nodes.map((node) => [node.id, node]));
  const parent = new Map<number, number>();
  for (const node of profile.nodes) for (const c of node.children ?? []) parent.set(c, node.id);
  const stack = (id: number) => {
    const out: ProfileNode[] = [];
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) out.push(nodes.get(at)!);
    return out;
  };
  // Only the measured run: from the first sample inside an HTTP request (start-up and module loading are left out).
  const first = profile.samples.findIndex((id) => stack(id).some((f) => f.callFrame.url.includes('/koa/')));
  const hitsOf = new Map<number, number>();
  const inclusive = new Map<string, number>();
  let window = 0;
  for (let i = Math.max(first, 0); i < profile.samples.length; i++) {
    const id = profile.samples[i]!;
    const dt = profile.timeDeltas[i + 1] ?? 0;
    hitsOf.set(id, (hitsOf.get(id) ?? 0) + dt);
    window += dt;
    const names = new Set(stack(id).map((f) => f.callFrame.functionName));
    for (const name of INCLUSIVE) if (names.has(name)) inclusive.set(name, (inclusive.get(name) ?? 0) + dt);
  }
  const usPerSample = 1;
  const total = window;
  const byFunction = new Map<string, number>();
  const byPlace = new Map<string, number>();
  for (const node of profile.nodes) {
    const hits = hitsOf.get(node.id) ?? 0;
    const { functionName, url, lineNumber } = node.callFrame;
    const short = url.replace(/^.*\/node_modules\//, '').replace(/^file:\/\/.*?\/(wt-[^/]+|main)\//, '');
    const fn = `${functionName || '(anonymous)'} ${short}:${lineNumber + 1}`;
    byFunction.set(fn, (byFunction.get(fn) ?? 0) + hits);
    const place = url === '' ? functionName : url.startsWith('node:') ? 'node core' : /node_modules\/(@[^/]+\/[^/]+|[^/]+)/.exec(url)?.[1] ?? short;
    byPlace.set(place, (byPlace.get(place) ?? 0) + hits);
  }
  const top = (m: Map<string, number>, k: number) =>
    [...m].sort((a, b) => b[1] - a[1]).slice(0, k).map(([name, hits]) => `  ${((100 * hits) / total).toFixed(1).padStart(5)}%  ${((hits * usPerSample) / n).toFixed(1).padStart(6)} µs/alloc  ${name}`);
  console.log('top self time by function:');
  console.log(top(byFunction, 25).join('\n'));
  console.log('self time by package or file:');
  console.log(top(byPlace, 20).join('\n'));
  console.log('inclusive time of the suspects:');
  console.log(top(inclusive, INCLUSIVE.length).join('\n'));
} finally {
  scratch.remove();
}
