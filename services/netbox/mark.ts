import { keyDigest, markedUnder } from '../ipam/marked.ts';

export { keyDigest };

/** The custom fields (object type `ipam.prefix`, type text) an operator creates for `mark: custom_fields`. */
export const MARK_FIELDS = {
  lifecycleId: 'lifecycle_id',
  subscriberId: 'lifecycle_subscriber_id',
  key: 'lifecycle_key',
} as const;

/** What identifies a prefix as one this service created, and for which lifecycle and step. */
export interface Mark {
  lifecycleId: string;
  subscriberId: string;
  key: string;
}

/** Where the mark is written: custom fields when NetBox has them, else the description. */
export type MarkStyle = 'custom_fields' | 'description';

/** The part of a NetBox prefix the mark is read from. */
export interface MarkedObject {
  description?: string | null;
  tags?: Array<{ name?: string; slug?: string }> | null;
  custom_fields?: Record<string, unknown> | null;
}

const DESCRIPTION_MAX = 200;
const HEAD = 'ipv6-lifecycle';

/** The value to search for when looking a mark up (`cf_lifecycle_key=` or `q=`). */
export function keySearchTerm(style: MarkStyle, key: string): string {
  return style === 'custom_fields' ? key : `key=${keyDigest(key)}`;
}

/** Fields of the create request that carry the mark. */
export function markFields(style: MarkStyle, mark: Mark): { description: string; custom_fields?: Record<string, string> } {
  if (style === 'custom_fields') {
    return {
      description: truncate(`${HEAD}: subscriber ${mark.subscriberId}`),
      custom_fields: {
        [MARK_FIELDS.lifecycleId]: mark.lifecycleId,
        [MARK_FIELDS.subscriberId]: mark.subscriberId,
        [MARK_FIELDS.key]: mark.key,
      },
    };
  }
  const fixed = `${HEAD} lc=${mark.lifecycleId} key=${keyDigest(mark.key)}`;
  if (fixed.length + 6 > DESCRIPTION_MAX || /\s/.test(mark.lifecycleId)) {
    throw new RangeError('lifecycle id does not fit a NetBox description mark');
  }
  // The subscriber id goes last so that truncation only ever shortens the human-readable part.
  return { description: truncate(`${fixed} sub=${mark.subscriberId}`) };
}

/**
 * Reads the mark of a prefix, whichever style wrote it. `key` is the raw key for a custom-field mark
 * and the digest for a description mark; compare with `sameKey`.
 */
export function readMark(obj: MarkedObject, tag: string): { lifecycleId: string; key: string; digest: boolean } | null {
  if (!(obj.tags ?? []).some((t) => t.slug === tag || t.name === tag)) return null;
  const cf = obj.custom_fields ?? {};
  const lifecycleId = cf[MARK_FIELDS.lifecycleId];
  const key = cf[MARK_FIELDS.key];
  if (typeof lifecycleId === 'string' && lifecycleId !== '' && typeof key === 'string') {
    return { lifecycleId, key, digest: false };
  }
  const m = /^ipv6-lifecycle lc=(\S+) key=([\w-]{22})(?: |$)/.exec(obj.description ?? '');
  return m ? { lifecycleId: m[1] ?? '', key: m[2] ?? '', digest: true } : null;
}

/** True when a read mark was written for this idempotency key. */
export function sameKey(read: { key: string; digest: boolean }, key: string): boolean {
  return markedUnder({ key: read.key, keyIsDigest: read.digest }, key);
}

function truncate(s: string): string {
  return s.length <= DESCRIPTION_MAX ? s : s.slice(0, DESCRIPTION_MAX);
}
