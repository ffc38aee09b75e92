import { bodyParser } from '@koa/bodyparser';
import type { Middleware } from 'koa';
import { ApiError } from './errors.ts';

/**
 * Reads a JSON request body into `ctx.request.body` ({} when there is none). The limit applies to the
 * streamed (and decompressed) bytes, so a missing or lying Content-Length cannot get past it.
 */
export function jsonBody(limitBytes: number): Middleware {
  const parse = bodyParser({
    enableTypes: ['json'],
    jsonLimit: limitBytes,
    // Objects and arrays only; a bare `"x"` or `56` is not a request we could mean.
    jsonStrict: true,
    onError: (err) => {
      throw translate(err as Error & { status?: number; type?: string }, limitBytes);
    },
  });
  return async (ctx, next) => {
    // No body (or `Content-Length: 0`, which `is()` counts as one) reads as `{}`: validation then names
    // the missing field, which helps a client more than a 415 about a body it never sent.
    const empty = ctx.request.length === 0 && !ctx.get('Transfer-Encoding');
    if (!empty && ctx.request.is('application/json') === false) {
      const type = ctx.get('Content-Type') || 'none';
      throw new ApiError('unsupported_media_type', `Content-Type must be application/json, not ${type}`, { field: 'Content-Type' });
    }
    return parse(ctx, next);
  };
}

function translate(err: Error & { status?: number; type?: string }, limitBytes: number): ApiError {
  if (err.status === 413) return new ApiError('payload_too_large', `request body exceeds ${limitBytes} bytes`);
  if (err.status === 415) return new ApiError('unsupported_media_type', err.message, { field: 'Content-Encoding' });
  if (err.type?.startsWith('request.')) return new ApiError('validation_error', `request body incomplete: ${err.message}`);
  if (err instanceof SyntaxError && err.message.startsWith('invalid JSON, only supports')) {
    return new ApiError('validation_error', 'request body must be a JSON object');
  }
  return new ApiError('validation_error', `malformed JSON: ${err.message}`);
}
