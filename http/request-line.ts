// Checks of the request line, before auth and routing: what the router and the query parser would
// otherwise read leniently (an undecodable `%E0%A4%A` kept raw or turned into U+FFFD) is refused.
import type { Middleware } from 'koa';
import { ApiError } from './errors.ts';

/** Longest request target (path and query) answered; a longer one is 414. */
export const MAX_URL_BYTES = 8 * 1024;

const decodes = (text: string) => {
  try {
    decodeURIComponent(text.replace(/\+/g, ' '));
    return true;
  } catch {
    return false;
  }
};

export function requestLine(): Middleware {
  return async (ctx, next) => {
    if (Buffer.byteLength(ctx.url) > MAX_URL_BYTES) throw new ApiError('uri_too_long', `the URL exceeds ${MAX_URL_BYTES} bytes`);
    if (!decodes(ctx.path)) throw new ApiError('validation_error', 'malformed percent-encoding in the path (each % takes two hex digits of UTF-8)');
    for (const pair of ctx.querystring ? ctx.querystring.split('&') : []) {
      const eq = pair.indexOf('=');
      const name = eq < 0 ? pair : pair.slice(0, eq);
      if (!decodes(name)) throw new ApiError('validation_error', 'malformed percent-encoding in a query parameter name');
      const field = decodeURIComponent(name.replace(/\+/g, ' '));
      if (eq >= 0 && !decodes(pair.slice(eq + 1))) {
        throw new ApiError('validation_error', `malformed percent-encoding in query parameter ${field}`, { field });
      }
    }
    await next();
  };
}
