import { createHash } from 'node:crypto';
import type { MarkedPrefix } from './port.ts';

/**
 * An idempotency key as a mark with little room stores it (a NetBox description, capped at 200
 * characters): keys derived from a lifecycle id, a step and a generation can be long.
 */
export function keyDigest(key: string): string {
  return createHash('sha256').update(key).digest('base64url').slice(0, 22);
}

/** True when the marked prefix was allocated under `key`, whether its mark holds the key or its digest. */
export function markedUnder(m: Pick<MarkedPrefix, 'key' | 'keyIsDigest'>, key: string): boolean {
  return m.keyIsDigest ? m.key === keyDigest(key) : m.key === key;
}
