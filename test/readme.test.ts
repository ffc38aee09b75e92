import { readFileSync } from 'node:fs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { z } from 'zod';
import { configSchema } from '../config.ts';

const test = suite('README.md');
const readme = readFileSync('README.md', 'utf8');

type Json = { properties?: Record<string, Json>; items?: Json; anyOf?: Json[]; type?: string };

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
  const all = [...new Set(keys(z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }) as Json))];
  assert.ok(all.length > 40, `only ${all.length} keys found: the walk is broken`);
  const missing = all.filter((k) => !readme.includes(`\`${k}\``));
  assert.equal(missing, [], `README's configuration reference lacks: ${missing.join(', ')}`);
});

test('names no key the schema does not have', () => {
  const all = new Set(keysWithSections(z.toJSONSchema(configSchema, { io: 'input', unrepresentable: 'any' }) as Json));
  const section = readme.slice(readme.indexOf('## Configuration reference'), readme.indexOf('## Operating it'));
  const named = [...section.matchAll(/^\| `([a-z_.[\]]+)` \|/gm)].map((m) => m[1]!);
  assert.ok(named.length > 20);
  assert.equal(named.filter((k) => !all.has(k)), []);
});

test.run();
