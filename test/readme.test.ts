import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { z } from 'zod';
import { configSchema, loadConfig } from '../config.ts';

const test = suite('README.md');
const readme = readFileSync('README.md', 'utf8');

type Json = { properties?: Record<string, Json>; items?: Json; anyOf?: Json[]; type?: string; default?: unknown };
const docs = readdirSync('docs').filter((f) => f.endsWith('.md')).map((f) => ({ name: `docs/${f}`, text: readFileSync(`docs/${f}`, 'utf8') }));
const reference = readme.slice(readme.indexOf('## Configuration reference'), readme.indexOf('## The outside systems'));
const jsonSchema = () => z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }) as Json;

const isSection = (s: Json): boolean => s.properties !== undefined || (s.anyOf ?? []).some(isSection);

/** Every setting of the configuration schema, dotted, arrays as `[]`; sections only by their settings. */
function keys(schema: Json, path = ''): string[] {
  if (schema.anyOf) return schema.anyOf.flatMap((s) => keys(s, path));
  if (schema.type === 'array' && schema.items) return keys(schema.items, `${path}[]`);
  return Object.entries(schema.properties ?? {}).flatMap(([k, v]) => {
    const key = path ? `${path}.${k}` : k;
    return [...(isSection(v) ? [] : [key]), ...keys(v, key)];
  });
}

function keysWithSections(schema: Json, path = ''): string[] {
  if (schema.anyOf) return schema.anyOf.flatMap((s) => keysWithSections(s, path));
  if (schema.type === 'array' && schema.items) return [path, ...keysWithSections(schema.items, `${path}[]`)];
  return Object.entries(schema.properties ?? {}).flatMap(([k, v]) => {
    const key = path ? `${path}.${k}` : k;
    return [key, ...keysWithSections(v, key)];
  });
}

test('opens with the two commands: start on embedded defaults, run every test', () => {
  const first = readme.split('```')[1] ?? '';
  assert.match(first, /npm ci && npm start/);
  assert.match(first, /npm test/);
});

test('the configuration reference names every key of the schema', () => {
  const all = [...new Set(keys(jsonSchema()))];
  assert.ok(all.length > 40, `only ${all.length} keys found: the walk is broken`);
  const missing = all.filter((k) => !reference.includes(`\`${k}\``));
  assert.equal(missing, [], `README's configuration reference lacks: ${missing.join(', ')}`);
});

test('names no key the schema does not have', () => {
  const all = new Set(keysWithSections(jsonSchema()));
  const named = [...reference.matchAll(/^\| `([a-z_.[\]]+)` \|/gm)].map((m) => m[1]!);
  assert.ok(named.length > 20);
  assert.equal(named.filter((k) => !all.has(k)), []);
  // Inside the rows too: every dotted name under a top-level key (`netbox.release.mode`) is a key.
  const top = Object.keys(configSchema.shape);
  const inline = [...reference.matchAll(/`([a-z_]+(?:\.[a-z_[\]]+)+)`/g)].map((m) => m[1]!).filter((k) => top.includes(k.split('.')[0]!.replace('[]', '')));
  assert.ok(inline.length > 100, `only ${inline.length} inline keys`);
  assert.equal([...new Set(inline.filter((k) => !all.has(k)))], []);
});

/** Every setting with the default the schema applies (sections and settings without one left out). */
function defaults(schema: Json, path = '', out = new Map<string, unknown>()): Map<string, unknown> {
  if (schema.anyOf) schema.anyOf.forEach((s) => defaults(s, path, out));
  else if (schema.type === 'array' && schema.items) defaults(schema.items, `${path}[]`, out);
  for (const [k, v] of Object.entries(schema.properties ?? {})) {
    const key = path ? `${path}.${k}` : k;
    if (v.default !== undefined && typeof v.default !== 'object') out.set(key, v.default);
    defaults(v, key, out);
  }
  return out;
}

test('every default a key table gives (README.md, docs/*.md) is the one the schema applies', () => {
  const want = defaults(jsonSchema());
  const wrong: string[] = [];
  let rows = 0;
  for (const { name, text } of [{ name: 'README.md', text: reference }, ...docs]) {
    // docs/genieacs.md names its keys inside the section.
    const prefix = name === 'docs/genieacs.md' ? 'genieacs.' : '';
    for (const [, key, cell] of text.matchAll(/^\| `([a-z_.[\]]+)` \| ([^|]*) \|/gm)) {
      const d = want.get(prefix + key!);
      if (d === undefined) continue;
      rows++;
      const given = /^`([^`]+)`(?: \(.*\))?$|^(\d+)$/.exec(cell!.trim());
      if (!given || (given[1] ?? given[2]) !== String(d)) wrong.push(`${name} ${prefix}${key}: says "${cell!.trim()}", the schema applies ${String(d)}`);
    }
  }
  // The sections' rows name their keys inline, each followed by its default: `netbox.tag` (`ipv6-lifecycle`).
  for (const [, key, cell] of reference.matchAll(/`([a-z_.[\]]+)` \(([^;)]+)[;)]/g)) {
    const d = want.get(key!);
    if (d === undefined) continue;
    rows++;
    if (cell!.replace(/^`|`$/g, '') !== String(d)) wrong.push(`README.md ${key}: says (${cell}), the schema applies ${String(d)}`);
  }
  assert.ok(rows > 90, `only ${rows} rows compared: the table walk is broken`);
  assert.equal(wrong, []);
});

test('every configuration example (yaml blocks of README.md and docs/*.md) is one loadConfig accepts', () => {
  const dir = mkdtempSync(join(tmpdir(), 'readme-examples-'));
  const top = new Set(Object.keys(configSchema.shape));
  const env = new Proxy({} as NodeJS.ProcessEnv, { get: (_, k) => (typeof k === 'string' && /URL$/.test(k) ? 'postgres://u@h/db' : 'placeholder-secret-0123456789') });
  const refused: string[] = [];
  let checked = 0;
  try {
    for (const { name, text } of [{ name: 'README.md', text: readme }, ...docs]) {
      for (const [, block] of text.matchAll(/^```yaml\n([\s\S]*?)^```/gm)) {
        const first = /^([a-z_]+):/m.exec(block!)?.[1];
        if (!first || !top.has(first)) continue;
        const file = join(dir, `example-${checked++}.yaml`);
        writeFileSync(file, block!);
        try {
          loadConfig(file, env);
        } catch (err) {
          refused.push(`${name} (${first}: …): ${(err as Error).message}`);
        }
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.ok(checked >= 6, `only ${checked} examples found`);
  assert.equal(refused, []);
});

test.run();
