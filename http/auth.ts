import { createHash, timingSafeEqual } from 'node:crypto';
import type { Context } from 'koa';
import { ApiError } from './errors.ts';

const digest = (s: string) => createHash('sha256').update(s, 'utf8').digest();

/**
 * A check of `Authorization: Bearer <token>` against `token`. Both sides are hashed first so that
 * `timingSafeEqual` compares equal lengths and the time taken says nothing about the token's length.
 */
export function bearerCheck(token: string, realm: string): (ctx: Context) => void {
  const expected = digest(token);
  const challenge = { 'WWW-Authenticate': `Bearer realm="${realm}"` };
  return (ctx) => {
    const header = ctx.get('Authorization');
    const match = /^Bearer[ \t]+(\S+)[ \t]*$/i.exec(header);
    if (!match) throw new ApiError('unauthorized', 'missing bearer token', { headers: challenge });
    if (!timingSafeEqual(digest(match[1]!), expected)) throw new ApiError('unauthorized', 'wrong bearer token', { headers: challenge });
  };
}
