import { MARK_FIELDS } from './mark.ts';
import type { NbPrefix } from './parents.ts';

/**
 * The `comments` of a prefix released by a revocation that has not finished: `deprecated`, so
 * NetBox hands it to nobody, and left alone by the sweep until free() clears the note.
 */
export const QUARANTINED = 'ipv6-lifecycle: quarantined until its revocation ends';

export const isQuarantined = (p: Pick<NbPrefix, 'comments'>) => (p.comments ?? '') === QUARANTINED;

const DESCRIPTION_MAX = 200;

/** The subscriber a marked prefix was allocated for; null when unknown (a description cut at 200 characters). */
export function subscriberOf(p: Pick<NbPrefix, 'custom_fields' | 'description'>): string | null {
  const cf = p.custom_fields?.[MARK_FIELDS.subscriberId];
  if (typeof cf === 'string' && cf !== '') return cf;
  const d = p.description ?? '';
  const m = /^ipv6-lifecycle lc=\S+ key=[\w-]{22} sub=(.+)$/.exec(d);
  return m && d.length < DESCRIPTION_MAX ? (m[1] ?? null) : null;
}
