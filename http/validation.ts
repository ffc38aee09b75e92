import type { z } from 'zod';
import { ApiError } from './errors.ts';

type Where = 'body' | 'query' | 'path';

/** Parses `value` with `schema`; the first issue becomes a 400 naming its field as a dotted path. */
export function parseInput<S extends z.ZodType>(schema: S, value: unknown, where: Where): z.output<S> {
  if (where === 'query') refuseRepeated(value);
  const result = schema.safeParse(value);
  if (result.success) return result.data;
  throw toValidationError(result.error.issues[0], value, where);
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
