import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { prefixLifecycle } from '../machines/prefix-lifecycle.ts';
import { toDot, toMermaid } from '../scripts/diagram.ts';
import { OUT_DIR, generate, renderSvg, staleFiles, svgContent } from '../scripts/visualize.ts';
import { toolAvailable } from './support/tools.ts';

const test = suite('visualizations');
const committed = (file: string) => readFileSync(join(OUT_DIR, file), 'utf8');
const HOW = 'stale: run `npm run visualize` and commit visualizations/';

test('prefix-lifecycle.mmd is what the machine generates now', () => {
  assert.fixture(committed('prefix-lifecycle.mmd'), toMermaid(prefixLifecycle), HOW);
});

test('prefix-lifecycle.dot is what the machine generates now', () => {
  assert.fixture(committed('prefix-lifecycle.dot'), toDot(prefixLifecycle), HOW);
});

test('generation is deterministic', () => {
  assert.is(toMermaid(prefixLifecycle), toMermaid(prefixLifecycle));
  assert.is(toDot(prefixLifecycle), toDot(prefixLifecycle));
});

test('both diagrams draw one arrow per transition, invocation outcomes and guards labelled', () => {
  const transitions = (n: typeof prefixLifecycle.root): number =>
    [...n.transitions.values()].flat().length + (n.always?.length ?? 0) + Object.values(n.states).reduce((sum, c) => sum + transitions(c), 0);
  const mermaid = toMermaid(prefixLifecycle).split('\n').filter((l) => / --> /.test(l) && !l.includes('[*]'));
  const dot = toDot(prefixLifecycle).split('\n').filter((l) => / -> /.test(l) && !l.includes('.[*]" ->'));
  assert.is(mermaid.length, transitions(prefixLifecycle.root));
  assert.is(dot.length, transitions(prefixLifecycle.root));
  assert.ok(mermaid.includes('  pending --> allocated : done: allocatePrefix'));
  assert.ok(mermaid.includes('  revoking_cpe --> failed : error: removeCpeIpv6'));
  assert.ok(mermaid.includes('  failed --> allocated_cpe : RETRY [failedAt(activate_cpe)]'));
  const drawn = (arrow: string) => mermaid.some((l) => l.trim() === arrow);
  // Every guard has a name: no anonymous "[guard]" on the diagram.
  assert.equal(mermaid.filter((l) => /\[(guard|inline guard)\]/.test(l)), []);
  assert.ok(drawn('pending --> revoked : error: allocatePrefix [refusedOutright]'));
  assert.ok(drawn('every_state --> revoking : REVOKE [revocable]'));
  // The update saga: a failed step rolls back, and the chooser undoes the newest compensation first.
  assert.ok(drawn('active_updateCpe --> active_updateRollback : error: configureCpe'));
  assert.ok(drawn('active_updateRollback_choose --> active_updateRollback_restoreCpe : always [undoNext(restoreCpe)]'));
  assert.ok(drawn('active_updateRollback_releaseNext --> active_updateRollback_choose : done: releasePrefix'));
  assert.match(toDot(prefixLifecycle), 'subgraph "cluster_prefixLifecycle.revoking" {');
});

test('prefix-lifecycle.svg shows the current .dot (needs Graphviz `dot`)', () => {
  if (!toolAvailable('prefix-lifecycle.svg freshness', 'dot', 'apt-get install graphviz', { probeArgs: ['-V'] })) return;
  const fresh = renderSvg(toDot(prefixLifecycle));
  assert.equal(svgContent(committed('prefix-lifecycle.svg')), svgContent(fresh), HOW);
});

test('`visualize --check` finds nothing stale', () => {
  assert.equal(staleFiles(generate()), []);
});

test.run();
