// Secrets out of what a peer says before it reaches a log line. One place for every peer: the
// body is redacted whole and only then cut to an excerpt, since a secret the cut falls across is
// no longer the whole secret and would keep its head.

/** A function that replaces each secret, as it is, JSON-escaped, URL-encoded or base64-encoded, with `[redacted]`. */
export function redactor(secrets: readonly string[]): (text: string) => string {
  // JSON-escaped: a peer's parsed body is written back with JSON.stringify, so a `"` or `\` in an
  // echoed secret reaches the excerpt as `\"` or `\\` (test/review15 secrets-json-escaped).
  const jsonEscaped = (s: string) => JSON.stringify(s).slice(1, -1);
  const forms = [...new Set(secrets.filter((s) => s.length > 0).flatMap((s) => [s, jsonEscaped(s), encodeURIComponent(s), Buffer.from(s).toString('base64')]))];
  // The longest first: a form that contains another is replaced whole.
  forms.sort((a, b) => b.length - a.length);
  return (text) => forms.reduce((t, s) => t.split(s).join('[redacted]'), text);
}

/** A peer's body (or a text it wrote, such as a CPE fault) redacted, then cut to `max` characters. */
export function peerExcerpt(data: unknown, max: number, redact: (text: string) => string): string {
  const text = redact(typeof data === 'string' ? data : (JSON.stringify(data ?? '') ?? ''));
  return text.length > max ? `${text.slice(0, max)}…` : text;
}
