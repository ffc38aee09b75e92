import { spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { prefixLifecycle } from '../machines/prefix-lifecycle.ts';
import { toDot, toMermaid } from './diagram.ts';

// `npm run visualize` writes visualizations/ from machines/; `--check` exits 1 when the
// committed files differ from what the machine gives now (CI runs it, and so does the test suite).

export const OUT_DIR = fileURLToPath(new URL('../visualizations/', import.meta.url));
const NAME = 'prefix-lifecycle';

export interface Generated {
  file: string;
  content: string;
  /** Whether the committed content shows the same diagram. */
  same(committed: string): boolean;
}

export function hasGraphviz(): boolean {
  return spawnSync('dot', ['-V'], { stdio: 'ignore' }).status === 0;
}

export function renderSvg(dot: string): string {
  const out = spawnSync('dot', ['-Tsvg'], { input: dot, encoding: 'utf8' });
  if (out.status !== 0) throw new Error(`dot -Tsvg failed: ${out.stderr}`);
  return out.stdout;
}

/**
 * What an SVG shows, without where: node and edge titles and label texts. Graphviz versions lay
 * out (and stamp) the same graph differently, so comparing bytes would fail on a CI runner with
 * another version while the diagram is current.
 */
export function svgContent(svg: string): string[] {
  return [...svg.matchAll(/<(title|text)\b[^>]*>([^<]*)<\/\1>/g)].map((m) => `${m[1]}:${m[2]}`).sort();
}

/** Every file the script owns, generated in memory; the SVG only where Graphviz is installed. */
export function generate(withSvg = hasGraphviz()): Generated[] {
  const mermaid = toMermaid(prefixLifecycle);
  const dot = toDot(prefixLifecycle);
  const files: Generated[] = [
    { file: `${NAME}.mmd`, content: mermaid, same: (c) => c === mermaid },
    { file: `${NAME}.dot`, content: dot, same: (c) => c === dot },
  ];
  if (withSvg) {
    const svg = renderSvg(dot);
    const shown = JSON.stringify(svgContent(svg));
    files.push({ file: `${NAME}.svg`, content: svg, same: (c) => JSON.stringify(svgContent(c)) === shown });
  }
  return files;
}

const committed = (file: string) => {
  const path = join(OUT_DIR, file);
  return existsSync(path) ? readFileSync(path, 'utf8') : null;
};

/** Names of the files whose committed version is missing or shows another diagram. */
export function staleFiles(files: Generated[] = generate()): string[] {
  return files.filter((f) => {
    const c = committed(f.file);
    return c === null || !f.same(c);
  }).map((f) => f.file);
}

function main(args: string[]): number {
  const graphviz = hasGraphviz();
  const files = generate(graphviz);
  const stale = staleFiles(files);
  if (!graphviz) console.warn('visualize: Graphviz `dot` not found; the SVG is neither generated nor checked');

  if (args.includes('--check')) {
    if (stale.length === 0) return 0;
    console.error(`visualize: stale in visualizations/: ${stale.join(', ')}. Run \`npm run visualize\` and commit the result.`);
    return 1;
  }
  mkdirSync(OUT_DIR, { recursive: true });
  // Only files that changed are written, so a Graphviz upgrade alone does not churn the SVG.
  for (const f of files.filter((g) => stale.includes(g.file))) writeFileSync(join(OUT_DIR, f.file), f.content);
  console.log(stale.length ? `visualize: wrote ${stale.join(', ')}` : 'visualize: up to date');
  return 0;
}

if (process.argv[1] && import.meta.url === pathToFileURL(process.argv[1]).href) process.exitCode = main(process.argv.slice(2));
