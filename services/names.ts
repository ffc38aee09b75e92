// The names a subscriber, a RADIUS user and a CPE go by, as the API accepts them. Shared by the
// request schemas (http/schemas.ts) and adoption's plan, so that nothing enters the store by an
// import that an API call could not have stored, nor name afterwards.
import { z } from 'zod';

// C0/C1 controls would corrupt log lines and RADIUS attributes further down. Written as a plain
// class rather than \p{Cc}, which OpenAPI's regex dialect does not know.
const printable = /^[^\x00-\x1f\x7f-\x9f]+$/;
// A lone surrogate is no character: stored as invalid UTF-8, read back as U+FFFD, it would make
// two subscribers look alike.
const loneSurrogate = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;
/** No lone surrogate: the text has UTF-8 (for the store, and for uuid v5 to hash). */
export const wellFormed = (v: string): boolean => !loneSurrogate.test(v);

/** A name people and systems type: printable, well-formed, not blank. */
const name = (max: number) =>
  z
    .string()
    .min(1)
    .max(max)
    .regex(printable, 'must not contain control characters')
    .refine(wellFormed, 'must be well-formed Unicode')
    // A pattern too, so that the document says what the service refuses.
    .regex(/\S/, 'must not be blank');

// Characters that show as nothing: bidi controls (U+202E turns a log line around), zero-width ones,
// the soft hyphen, the BOM, the line and paragraph separators. "sub-42" and "sub-42" + U+200B would
// be two subscribers that look alike in every log, list and RADIUS record. Refused where a name
// starts; a subscriber stored before is still served by the name it has. A plain class, as above.
// Also the Hangul fillers, the combining grapheme joiner, the Khmer inherent vowels and the
// Mongolian variation selectors, which render as nothing or as blank.
const invisible = /^[^\u00ad\u034f\u061c\u115f\u1160\u17b4\u17b5\u180b-\u180f\u200b-\u200f\u2028-\u202e\u2060-\u206f\u3164\ufeff\uffa0\ufff9-\ufffb]+$/;
// The tag characters (U+E0000–U+E007F) show as nothing and spell out ASCII ("ASCII smuggling").
// A refinement, not in the pattern: outside the BMP a plain class cannot name them in both regex
// dialects (with and without the u flag). It refuses the subdivision flags, which are built of them.
const tags = /[\u{e0000}-\u{e007f}]/u;
const INVISIBLE = 'must not contain invisible characters (bidi controls, zero-width characters, line separators)';
const visible = (schema: z.ZodString) => schema.regex(invisible, INVISIBLE).refine((v) => !tags.test(v), INVISIBLE);

/** A subscriber that exists. */
export const subscriberIdName = name(128);

// "." and ".." are dot segments: a client removes them from `lifecycle/{subscriber_id}` (RFC 3986
// §5.2.4), and fetch and browsers do so for %2E too (the URL Standard), so no Location and no GET of
// theirs can reach such a subscriber. Refused where a subscriber starts; one that exists is served.
export const newSubscriberIdName = visible(name(128)).refine((v) => v !== '.' && v !== '..', 'must not be "." or "..", which a URL path cannot name');

export const usernameName = visible(name(253));

// GenieACS ids are `OUI-ProductClass-Serial` with every other character percent-encoded.
export const cpeIdName = z
  .string()
  .min(1)
  .max(255)
  .regex(/^[A-Za-z0-9%_.~-]+$/, 'must be a GenieACS device id (letters, digits, % _ . ~ -)');

/** Why the API would refuse this value, or null when it would take it. */
export function nameProblem(schema: z.ZodType<string>, value: string): string | null {
  const parsed = schema.safeParse(value);
  return parsed.success ? null : (parsed.error.issues[0]?.message ?? 'is not valid');
}
