import { setImmediate as nextTurn } from 'node:timers/promises';
import { z } from 'zod';
import { ApiError } from './errors.ts';

type Where = 'body' | 'query' | 'path';

/** Parses `value` with `schema`; the first issue becomes a 400 naming its field as a dotted path. */
export function parseInput<S extends z.ZodType>(schema: S, value: unknown, where: Where): z.output<S> {
  if (where === 'query') refuseRepeated(value);
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw toValidationError(result.error.issues[0], value, where);
}

/**
 * parseInput for a body carrying one long list at `at` (an import's 50,000 file records were 67 ms of
 * zod in one turn of the loop, issue 10): the body is parsed with the list empty, then the list
 * `slice` items a turn with `item`, the schema's own rule for one; an item's issue is named by its
 * index, as parsing it whole names it, and the first of several issues is the one zod names first.
 * Answers and the OpenAPI document stay those of `schema`, which must take an empty list and not
 * bound the list's length by less than `maxItems`.
 */
export async function parseInputInSlices<S extends z.ZodType, I extends z.ZodType>(
  schema: S,
  value: unknown,
  at: { path: readonly string[]; item: I; maxItems: number; slice: number },
): Promise<z.output<S>> {
  const list = valueAt(value, at.path);
  if (!Array.isArray(list) || list.length === 0 || list.length > at.maxItems) return parseInput(schema, value, 'body');
  const rest = schema.safeParse(withAt(value, at.path, []));
  const restIssue = rest.success ? undefined : rest.error.issues[0];
  if (restIssue && namedBefore(schema, restIssue.path, at.path)) throw toValidationError(restIssue, value, 'body');
  const items: z.output<I>[] = new Array(list.length);
  for (let i = 0; i < list.length; i++) {
    if (i > 0 && i % at.slice === 0) await nextTurn();
    const result = at.item.safeParse(list[i]);
    if (!result.success) {
      const issue = result.error.issues[0]!;
      throw toValidationError({ ...issue, path: [...at.path, i, ...issue.path] } as z.core.$ZodIssue, value, 'body');
    }
    items[i] = result.data;
  }
  if (!rest.success) throw toValidationError(restIssue, value, 'body');
  return withAt(rest.data, at.path, items) as z.output<S>;
}

/**
 * Whether zod, parsing the whole, names an issue at `issuePath` before any inside the list at
 * `path`: it goes through an object's keys in its shape's order and names unknown keys after them.
 */
function namedBefore(schema: z.ZodType, issuePath: readonly PropertyKey[], path: readonly string[]): boolean {
  let s: z.ZodType = schema;
  for (let d = 0; d < path.length; d++) {
    while (s instanceof z.ZodOptional) s = s.unwrap() as z.ZodType;
    // An issue of an object on the way is its unknown keys, named after its keys' issues.
    if (d >= issuePath.length || !(s instanceof z.ZodObject)) return false;
    const keys = Object.keys(s.shape);
    if (issuePath[d] !== path[d]) {
      const at = keys.indexOf(String(issuePath[d]));
      return at >= 0 && at < keys.indexOf(path[d]!);
    }
    s = s.shape[path[d]!] as z.ZodType;
  }
  return false;
}

/** `value` with the object at `path` copied along the way and `list` set at its end. */
function withAt(value: unknown, path: readonly string[], list: unknown[]): unknown {
  if (path.length === 0) return list;
  const [key, ...rest] = path as [string, ...string[]];
  const o = value as Record<string, unknown>;
  return { ...o, [key]: withAt(o[key], rest, list) };
}

function toValidationError(issue: z.core.$ZodIssue | undefined, input: unknown, where: Where): ApiError {
  if (!issue) return new ApiError('validation_error', `invalid request ${where}`);
  const path = issue.path.map(String);
  if (issue.code === 'unrecognized_keys') {
    const field = [...path, issue.keys[0] ?? ''].join('.');
    const what = where === 'query' ? 'query parameter' : 'field';
    return new ApiError('validation_error', `unknown ${what} ${field}`, { field });
  }
  if (path.length === 0) {
    return new ApiError('validation_error', where === 'body' ? 'request body must be a JSON object' : `invalid request ${where}`);
  }
  const field = path.join('.');
  const missing = issue.code === 'invalid_type' && valueAt(input, issue.path) === undefined;
  if (missing) return new ApiError('validation_error', `${field} is required`, { field });
  return new ApiError('validation_error', `${field}: ${describe(issue)}`, { field });
}

function describe(issue: z.core.$ZodIssue): string {
  // zod's own wording for a wrong type ("Invalid input: expected number, received string") names no
  // JSON types; say it the way a client sending JSON thinks of it.
  if (issue.code === 'invalid_type') return `must be ${article(issue.expected)}`;
  if (issue.code === 'too_big' && issue.origin === 'number') return `must be at most ${issue.maximum}`;
  if (issue.code === 'too_small' && issue.origin === 'number') return `must be at least ${issue.minimum}`;
  return issue.message;
}

function article(expected: string): string {
  if (expected === 'int' || expected === 'number') return 'an integer';
  if (expected === 'object' || expected === 'array') return `an ${expected}`;
  return `a ${expected}`;
}

function valueAt(input: unknown, path: readonly PropertyKey[]): unknown {
  let v = input;
  for (const key of path) {
    if (v === null || typeof v !== 'object') return undefined;
    v = (v as Record<PropertyKey, unknown>)[key];
  }
  return v;
}

/** `?state=a&state=b` parses to an array: say so by name, not "must be a string". */
function refuseRepeated(query: unknown): void {
  if (query === null || typeof query !== 'object') return;
  for (const [name, v] of Object.entries(query)) {
    if (Array.isArray(v)) throw new ApiError('validation_error', `query parameter ${name} is given ${v.length} times; give it once`, { field: name });
  }
}
