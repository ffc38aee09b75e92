// FreeRADIUS 3.2's rlm_sql escapes every value it puts into a query (sql_escape_func): a byte outside
// `safe_characters` becomes =XX (upper-case hex), a multi-byte UTF-8 character passes whole. So the
// User-Name joe+tag@isp is looked up as joe=2Btag@isp in radcheck, radreply and radacct alike.
// With the stock module configuration rlm_sql_postgresql and rlm_sql_mysql escape the same way, as
// test/review11/radius-escape-backends checks on a real FreeRADIUS.

/** The stock `safe_characters` of mods-available/sql (FreeRADIUS 3.2). */
const SAFE = new Set('@abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_: /');

/** How rlm_sql writes `username` into its queries with the stock `safe_characters`. */
export function freeradiusEscaped(username: string): string {
  return escapeBytes(Buffer.from(username, 'utf8'));
}

/** rlm_sql's escaping of raw User-Name octets: a valid multi-byte UTF-8 character whole, a safe byte as it is, any other byte =XX. */
function escapeBytes(bytes: Buffer): string {
  let out = '';
  for (let i = 0; i < bytes.length; ) {
    const n = utf8Length(bytes, i);
    if (n > 1) {
      out += bytes.subarray(i, i + n).toString('utf8');
      i += n;
      continue;
    }
    const ch = String.fromCharCode(bytes[i]!);
    out += bytes[i]! < 0x80 && SAFE.has(ch) ? ch : `=${bytes[i]!.toString(16).toUpperCase().padStart(2, '0')}`;
    i += 1;
  }
  return out;
}

/** Length of the well-formed UTF-8 character at `i`, or 0 when the bytes there are not one. */
function utf8Length(b: Buffer, i: number): number {
  const c = b[i]!;
  const n = c < 0x80 ? 1 : c >= 0xc2 && c <= 0xdf ? 2 : c >= 0xe0 && c <= 0xef ? 3 : c >= 0xf0 && c <= 0xf4 ? 4 : 0;
  if (n <= 1 || i + n > b.length) return n === 1 ? 1 : 0;
  for (let k = 1; k < n; k++) if ((b[i + k]! & 0xc0) !== 0x80) return 0;
  return Buffer.from(b.subarray(i, i + n).toString('utf8'), 'utf8').equals(b.subarray(i, i + n)) ? n : 0;
}

/** The octets the NAS sent for a value rlm_sql stored (User-Name, Acct-Session-Id, …): each =XX (upper-case hex) its byte, anything else its UTF-8. */
export function unescaped(username: string): Buffer {
  const parts: Buffer[] = [];
  for (const m of username.matchAll(/=[0-9A-F]{2}|[^]/gu)) {
    const s = m[0];
    parts.push(s.length === 3 && s.startsWith('=') ? Buffer.from([parseInt(s.slice(1), 16)]) : Buffer.from(s, 'utf8'));
  }
  return Buffer.concat(parts);
}

/**
 * Why radreply rows under `username` would never be read by FreeRADIUS, or null: it is not the
 * form rlm_sql looks up for any User-Name. An =XX that rlm_sql writes is kept, so the stored form
 * is accepted; one it never writes (=41 for the safe A, =C3=BC for the UTF-8 ü that passes whole)
 * is refused too, naming the form of the User-Name it stands for.
 */
export function escapedUsernameProblem(username: string): string | null {
  const wanted = escapeBytes(unescaped(username));
  if (wanted === username) return null;
  return `FreeRADIUS's rlm_sql never looks up ${JSON.stringify(username)}: it escapes exactly the characters outside safe_characters as =XX, so that User-Name is looked up as ${JSON.stringify(wanted)}; give that form, which radcheck and radacct hold too`;
}
