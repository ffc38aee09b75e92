// What every log line carries besides its message: an ISO time, the level as a word, and the ids of
// the request and the lifecycle it is about. The ids travel with the async context (a step started
// by a request keeps that request's id through every retry), not through each call's arguments.
import { AsyncLocalStorage } from 'node:async_hooks';
import pino, { type Logger, type LoggerOptions } from 'pino';

/** The ids of the work the current async context belongs to. */
export interface LogScope {
  request_id?: string | null;
  subscriber_id?: string;
  lifecycle_id?: string;
}

const scopes = new AsyncLocalStorage<LogScope>();

/** Runs `fn` with `scope` added to the current one: lines logged inside (and after awaits) carry it. */
export function withLogScope<T>(scope: LogScope, fn: () => T): T {
  return scopes.run(logScopeWith(scope), fn);
}

/** The current scope with `scope` added: captured once, entered with `inLogScope()` around each piece of work. */
export function logScopeWith(scope: LogScope): LogScope {
  return { ...scopes.getStore(), ...scope };
}

/**
 * Runs `fn` in `scope` as it is (from `logScopeWith()`). A step enters it only around its port call
 * and its log lines, not for its whole life: every promise made inside a scope carries it, and a
 * step waiting minutes on its peer should hold as few as it can.
 */
export function inLogScope<T>(scope: LogScope, fn: () => T): T {
  return scopes.run(scope, fn);
}

/** The current scope (captured where work is queued, to log it later under the right ids). */
export function currentLogScope(): LogScope | undefined {
  return scopes.getStore();
}

type Bindings = Record<string, unknown>;

/**
 * The ids a line gets from its scope. A child logger's own bindings win; a logger bound to another
 * lifecycle (a batched commit flushed from this scope) takes nothing, so no line is mis-attributed.
 */
function scopeFields(logger: Logger): Bindings {
  const scope = scopes.getStore();
  if (!scope) return {};
  const bound = bindingsOf(logger);
  if (bound.lifecycle_id !== undefined && scope.lifecycle_id !== undefined && bound.lifecycle_id !== scope.lifecycle_id) return {};
  if (bound.lifecycle_id !== undefined && scope.lifecycle_id === undefined) return {};
  const fields: Bindings = {};
  for (const [key, value] of Object.entries(scope)) if (value !== undefined && !(key in bound)) fields[key] = value;
  // A lifecycle line outside any request (start-up recovery, the schedulers) says so.
  if (scope.lifecycle_id !== undefined && !('request_id' in fields) && !('request_id' in bound)) fields.request_id = null;
  return fields;
}

// pino's bindings() parses the logger's serialized bindings again on every call: once per logger is enough
// (a logger's bindings never change; a child is a new logger).
const boundOf = new WeakMap<Logger, Bindings>();
function bindingsOf(logger: Logger): Bindings {
  let bound = boundOf.get(logger);
  if (!bound) boundOf.set(logger, (bound = logger.bindings() as Bindings));
  return bound;
}

/** The pino options of the service's logger (compose.ts; tests that read lines use them too). */
export function loggerOptions(level: string): LoggerOptions {
  return {
    level,
    timestamp: pino.stdTimeFunctions.isoTime,
    formatters: { level: (label) => ({ level: label }) },
    mixin: (_merge, _level, logger) => scopeFields(logger as Logger),
  };
}
