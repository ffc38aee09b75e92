// Checks of the request line and headers, before auth and routing: what the router and the query parser
// would otherwise read leniently (an undecodable `%E0%A4%A` kept raw or turned into U+FFFD) is refused.
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

// Headers read as one value that Node takes from the first of several lines, dropping the rest
// (Authorization, Content-Type) or joins with ", " (Idempotency-Key): a proxy or a log in front may
// read the last line, so two lines of one of them are refused as a repeated query parameter is.
const SINGLE_HEADERS = ['Authorization', 'Content-Type', 'Idempotency-Key'];

const lineCount = (raw: string[], name: string) => raw.filter((v, i) => i % 2 === 0 && v.toLowerCase() === name.toLowerCase()).length;

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
    for (const field of SINGLE_HEADERS) {
      const n = lineCount(ctx.req.rawHeaders ?? [], field);
      if (n > 1) throw new ApiError('validation_error', `header ${field} is given ${n} times; give it once`, { field });
    }
    await next();
  };
}
