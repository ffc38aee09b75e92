import type { IncomingMessage } from 'node:http';
import { bodyParser } from '@koa/bodyparser';
import type { Context, Middleware } from 'koa';
import { ApiError } from './errors.ts';
import { memberAt, repeatedKey, repeatedKeyInTurns } from './json-text.ts';

/**
 * Reads a JSON request body into `ctx.request.body` ({} when there is none). The limit applies to the
 * streamed (and decompressed) bytes, so a missing or lying Content-Length cannot get past it.
 */
export function jsonBody(limitBytes: number): Middleware {
  // The body parser only streams, inflates and limits: it hands JSON over as text, one char per byte
  // ('binary' is lossless), since its own decoding (UTF-8, whatever charset is named) turns bytes
  // that are not UTF-8 into U+FFFD: "caf\xE9" and "caf\xE8" would be one subscriber. Both ways end
  // in setBody().
  const parse = bodyParser({
    enableTypes: ['text'],
    extendTypes: { text: ['application/json'] },
    textLimit: limitBytes,
    encoding: 'binary',
    onError: (err) => {
      throw translate(err as Error & { status?: number; type?: string }, limitBytes);
    },
  });
  return async (ctx, next) => {
    const length = plainLength(ctx, limitBytes);
    if (length !== null) {
      await setBody(ctx, await readBytes(ctx.req, length), limitBytes);
      return next();
    }
    // No body (or `Content-Length: 0`, which `is()` counts as one) reads as `{}`: validation then names
    // the missing field, which helps a client more than a 415 about a body it never sent.
    const empty = ctx.request.length === 0 && !ctx.get('Transfer-Encoding');
    if (!empty && ctx.request.is('application/json') === false) {
      const type = ctx.get('Content-Type') || 'none';
      throw new ApiError('unsupported_media_type', `Content-Type must be application/json, not ${type}`, { field: 'Content-Type' });
    }
    // JSON is UTF-8 (RFC 8259 §8.1): a client that names another charset means bytes read otherwise.
    const charset = empty ? '' : ctx.request.charset;
    if (charset && !UTF8.test(charset)) {
      throw new ApiError('unsupported_media_type', `Content-Type charset ${charset} is not supported: JSON is UTF-8`, { field: 'Content-Type' });
    }
    codingOf(ctx.req);
    return parse(ctx, async () => {
      const raw = ctx.request.body;
      if (typeof raw === 'string') await setBody(ctx, Buffer.from(raw, 'latin1'), limitBytes);
      return next();
    });
  };
}

// A content coding is case-insensitive and `x-gzip` is gzip (RFC 9110 §8.4.1); the body parser's
// inflater matches lower-case names only.
function codingOf(req: IncomingMessage): void {
  const coding = req.headers['content-encoding'];
  if (coding === undefined) return;
  const name = coding.trim().toLowerCase();
  req.headers['content-encoding'] = name === 'x-gzip' ? 'gzip' : name;
}

async function setBody(ctx: Context, bytes: Buffer, limitBytes: number): Promise<void> {
  const text = decode(bytes);
  ctx.request.body = await parseStrict(text, limitBytes);
  (ctx.request as { rawBody?: string }).rawBody = text;
}

// The request every client of the API sends: `application/json` (UTF-8, the only charset either way
// reads), not compressed, its length given and within the limit. It is read here, without the body
// parser's stack (co-body, raw-body, iconv-lite, type-is: ~10 µs a request), with the same outcome;
// anything else (compressed, chunked, another JSON type, over the limit) goes to the body parser.
const PLAIN_TYPE = /^application\/json[ \t]*(?:;[ \t]*charset[ \t]*=[ \t]*"?utf-?8"?[ \t]*)?$/i;
const DIGITS = /^[0-9]{1,15}$/;
const UTF8 = /^utf-?8$/i;

/** The body's length when the request is the plain kind read here, else null. */
function plainLength(ctx: Context, limitBytes: number): number | null {
  const h = ctx.req.headers;
  const type = h['content-type'];
  const length = h['content-length'];
  if (ctx.method !== 'POST' || ctx.request.body !== undefined || ctx.req.closed || (ctx as { disableBodyParser?: boolean }).disableBodyParser) return null;
  if (type === undefined || !PLAIN_TYPE.test(type) || h['content-encoding'] !== undefined || h['transfer-encoding'] !== undefined) return null;
  if (length === undefined || !DIGITS.test(length)) return null;
  const n = Number(length);
  return n <= limitBytes ? n : null;
}

/** The body's bytes, as raw-body reads them, or the ApiError it would end in. */
function readBytes(req: IncomingMessage, length: number): Promise<Buffer> {
  return new Promise((resolve, reject) => {
    const chunks: Buffer[] = [];
    let received = 0;
    const onData = (chunk: Buffer) => {
      received += chunk.length;
      chunks.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      if (received !== length) return reject(incomplete('request size did not match content length'));
      resolve(chunks.length === 1 ? chunks[0]! : Buffer.concat(chunks, received));
    };
    const onAborted = () => {
      cleanup();
      reject(incomplete('request aborted'));
    };
    const onClose = () => {
      if (!req.complete) onAborted();
    };
    const onError = (err: Error) => {
      cleanup();
      reject(new ApiError('validation_error', `malformed JSON: ${err.message}`));
    };
    const cleanup = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('aborted', onAborted);
      req.off('close', onClose);
      req.off('error', onError);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('aborted', onAborted);
    req.on('close', onClose);
    req.on('error', onError);
  });
}

const incomplete = (why: string) => new ApiError('validation_error', `request body incomplete: ${why}`);

const utf8 = new TextDecoder('utf-8', { fatal: true });

/** The body as text: UTF-8 (RFC 8259 §8.1), a leading BOM dropped as raw-body does; else a 400 naming the field. */
function decode(bytes: Buffer): string {
  try {
    return utf8.decode(bytes);
  } catch {
    throw notUtf8(bytes);
  }
}

/** Names the field whose value holds the first bytes that are not UTF-8, when the body is JSON but for them. */
function notUtf8(bytes: Buffer): ApiError {
  const lossy = bytes.toString('utf8');
  let field: string | null = null;
  try {
    const text = lossy.replace(/^\uFEFF/, '');
    if (STRICT.test(text)) {
      JSON.parse(text);
      const at = firstReplaced(bytes, lossy);
      if (at >= 0) field = memberAt(lossy, at);
    }
  } catch {
    // Not JSON either: nothing names a field.
  }
  if (field === null) return new ApiError('validation_error', 'request body is not UTF-8 text');
  return new ApiError('validation_error', `${field} is not UTF-8 text`, { field });
}

// Where the decoder put its first U+FFFD (a U+FFFD that was sent is EF BF BD in the bytes; one put
// in place of bytes that are not UTF-8 never is), or -1.
function firstReplaced(bytes: Buffer, lossy: string): number {
  let at = lossy.indexOf('\uFFFD');
  let offset = at < 0 ? 0 : Buffer.byteLength(lossy.slice(0, at));
  while (at >= 0 && bytes[offset] === 0xef && bytes[offset + 1] === 0xbf && bytes[offset + 2] === 0xbd) {
    const next = lossy.indexOf('\uFFFD', at + 1);
    if (next >= 0) offset += 3 + Buffer.byteLength(lossy.slice(at + 1, next));
    at = next;
  }
  return at;
}

// co-body's strict mode and @hapi/bourne's check for `__proto__` keys, which the body parser applied
// when it parsed JSON itself.
const STRICT = /^[\x20\x09\x0a\x0d]*(\[|\{)/;
const SUSPECT_PROTO = /"(?:_|\\u005[Ff])(?:_|\\u005[Ff])(?:p|\\u0070)(?:r|\\u0072)(?:o|\\u006[Ff])(?:t|\\u0074)(?:o|\\u006[Ff])(?:_|\\u005[Ff])(?:_|\\u005[Ff])"\s*:/;

/**
 * A body at least this long (an import's file records) is checked in several turns of the event
 * loop: its JSON parse (47 ms for 5.8 MB), the duplicate-key walk (64 ms) and the nesting check were
 * one turn. A timer between, not an immediate: the parse ends in the poll phase.
 */
const LONG_BODY = 256 * 1024;
const nextTurn = () => new Promise((resolve) => setTimeout(resolve, 0));

async function parseStrict(text: string, limitBytes: number): Promise<unknown> {
  if (!text) return {};
  let value: unknown;
  try {
    if (!STRICT.test(text)) throw new SyntaxError('invalid JSON, only supports object and array');
    value = JSON.parse(text) as unknown;
  } catch (err) {
    throw translate(err as Error, limitBytes);
  }
  if (value && typeof value === 'object' && SUSPECT_PROTO.test(text)) refuseProto(value);
  const long = text.length >= LONG_BODY;
  if (long) await nextTurn();
  const field = long ? await repeatedKeyInTurns(text) : repeatedKey(text);
  if (field !== null) throw new ApiError('validation_error', `${field} is given more than once; give it once`, { field });
  if (long) await nextTurn();
  const deep = tooDeep(value);
  if (deep !== undefined) throw new ApiError('validation_error', `${deep ?? 'request body'}: nests deeper than ${MAX_DEPTH} levels`, { field: deep });
  return value;
}

// No body of the API nests more than a few levels; 64 KiB of `[` nests 65 536, which JSON.parse takes
// but what walks the body recursively (the Idempotency-Key's canonical hash) overflows the stack on.
const MAX_DEPTH = 32;

/** The top-level field under which `value` nests deeper than MAX_DEPTH (null: the body itself), else undefined. */
function tooDeep(value: unknown): string | null | undefined {
  if (!value || typeof value !== 'object') return undefined;
  // Only objects are queued, walked with for…in: a [key, value] pair made and queued per value, plain
  // ones too, made the walk of 50,000 import records several times longer (issue 10).
  let level: [object, string | null][] = [[value, null]];
  for (let depth = 1; level.length; depth++) {
    if (depth > MAX_DEPTH) return level[0]![1];
    const next: [object, string | null][] = [];
    for (const [node, top] of level) {
      const named = depth === 1 && !Array.isArray(node);
      for (const key in node) {
        const child = (node as Record<string, unknown>)[key];
        if (child && typeof child === 'object') next.push([child, named ? key : top]);
      }
    }
    level = next;
  }
  return undefined;
}

/** A `__proto__` key (at any depth) is refused as an unknown field, named by its path as validation names one. */
function refuseProto(value: object): void {
  let next: [object, string[]][] = [[value, []]];
  while (next.length) {
    const nodes = next;
    next = [];
    for (const [node, path] of nodes) {
      if (Object.prototype.hasOwnProperty.call(node, '__proto__')) {
        const field = [...path, '__proto__'].join('.');
        throw new ApiError('validation_error', `unknown field ${field}`, { field });
      }
      for (const key in node) {
        const v = (node as Record<string, unknown>)[key];
        if (v && typeof v === 'object') next.push([v, [...path, key]]);
      }
    }
  }
}

// zlib's codes (Z_DATA_ERROR, Z_BUF_ERROR) and Brotli's (ERR__ERROR_FORMAT_…): the bytes are not what
// Content-Encoding says, so the JSON was never reached.
const UNDECODABLE = /^(?:Z_|ERR__ERROR_)/;

function translate(err: Error & { status?: number; type?: string; code?: unknown }, limitBytes: number): ApiError {
  if (err.status === 413) return new ApiError('payload_too_large', `request body exceeds ${limitBytes} bytes`);
  if (err.status === 415) return new ApiError('unsupported_media_type', err.message, { field: 'Content-Encoding' });
  if (typeof err.code === 'string' && UNDECODABLE.test(err.code)) {
    return new ApiError('validation_error', `request body does not decode as its Content-Encoding: ${err.message}`, { field: 'Content-Encoding' });
  }
  if (err.type?.startsWith('request.')) return new ApiError('validation_error', `request body incomplete: ${err.message}`);
  if (err instanceof SyntaxError && err.message.startsWith('invalid JSON, only supports')) {
    return new ApiError('validation_error', 'request body must be a JSON object');
  }
  return new ApiError('validation_error', `malformed JSON: ${err.message}`);
}
