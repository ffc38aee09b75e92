// FreeRADIUS 3.2's rlm_sql escapes every value it puts into a query (sql_escape_func): a byte outside
// `safe_characters` becomes =XX (upper-case hex), a multi-byte UTF-8 character passes whole. So the
// User-Name joe+tag@isp is looked up as joe=2Btag@isp in radcheck, radreply and radacct alike.

/** The stock `safe_characters` of mods-available/sql (FreeRADIUS 3.2). */
const SAFE = new Set('@abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_: /');

/** How rlm_sql writes `username` into its queries with the stock `safe_characters`. */
export function freeradiusEscaped(username: string): string {
  let out = '';
  for (const ch of username) {
    if (ch.codePointAt(0)! > 0x7f || SAFE.has(ch)) out += ch;
    else out += `=${ch.charCodeAt(0).toString(16).toUpperCase().padStart(2, '0')}`;
  }
  return out;
}

/**
 * Why radreply rows under `username` would never be read by FreeRADIUS, or null: it is not the
 * form rlm_sql looks up. An =XX that is already an escape is kept, so the stored form is accepted.
 */
export function escapedUsernameProblem(username: string): string | null {
  const kept = username.replace(/=[0-9A-F]{2}/g, '');
  const wanted = username.replace(/=[0-9A-F]{2}|[^]/gu, (m) => (m.length === 3 && m.startsWith('=') ? m : freeradiusEscaped(m)));
  if (freeradiusEscaped(kept) === kept) return null;
  return `FreeRADIUS's rlm_sql looks ${JSON.stringify(username)} up as ${JSON.stringify(wanted)} (it escapes characters outside safe_characters as =XX); give that form, which radcheck and radacct hold too`;
}
