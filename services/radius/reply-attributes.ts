// Which radreply rows a user should have after a write: shared by the SQL store and the fake so
// both implement the same rules.
import { ServiceError } from '../errors.ts';
import { firstSlash64, formatPrefix, parsePrefix } from '../ipv6.ts';
import type { WriteReplyCommand } from './port.ts';

export const DELEGATED_IPV6_PREFIX = 'Delegated-IPv6-Prefix';
export const FRAMED_IPV6_PREFIX = 'Framed-IPv6-Prefix';
/** Reply items use `:=` so they replace anything a policy added earlier (FreeRADIUS `unlang` operators). */
export const REPLY_OP = ':=';

/** How Framed-IPv6-Prefix (the WAN /64) is managed; see `radius.reply.framed_prefix`. */
export type FramedPrefixMode = 'none' | 'given' | 'first64';

/** A `radreply` row as FreeRADIUS's schema holds it. */
export interface ReplyRow {
  id: number;
  username: string;
  attribute: string;
  op: string;
  value: string;
}

/** The attributes this service owns for a user; it never touches any other row. */
export function managedAttributes(mode: FramedPrefixMode): string[] {
  return mode === 'none' ? [DELEGATED_IPV6_PREFIX] : [DELEGATED_IPV6_PREFIX, FRAMED_IPV6_PREFIX];
}

/** Why radreply cannot hold `username` (varchar(64) in FreeRADIUS's schemas), or null. */
export function replyUsernameProblem(username: string): string | null {
  return username.length === 0 || username.length > 64 ? 'RADIUS username must be 1..64 characters (radreply.username is varchar(64))' : null;
}

/** The value each managed attribute should hold after `cmd` (null: no row); throws `validation_error`. */
export function desiredReply(cmd: WriteReplyCommand, mode: FramedPrefixMode): Map<string, string | null> {
  const problem = replyUsernameProblem(cmd.username);
  if (problem) throw new ServiceError('validation_error', problem, { field: 'username' });
  const delegated = parsePrefix(cmd.delegatedPrefix, 'delegatedPrefix');
  const out = new Map<string, string | null>([[DELEGATED_IPV6_PREFIX, formatPrefix(delegated)]]);
  if (mode === 'none') return out;
  if (cmd.framedPrefix !== null) {
    out.set(FRAMED_IPV6_PREFIX, formatPrefix(parsePrefix(cmd.framedPrefix, 'framedPrefix')));
  } else if (mode === 'first64') {
    // A /64 (or longer) delegation leaves no room for a distinct WAN /64 inside it.
    if (delegated.length >= 64) {
      throw new ServiceError('validation_error', `framed_prefix first64 needs a delegated prefix shorter than /64, got /${delegated.length}`, {
        field: 'delegatedPrefix',
      });
    }
    out.set(FRAMED_IPV6_PREFIX, formatPrefix(firstSlash64(delegated)));
  } else {
    out.set(FRAMED_IPV6_PREFIX, null);
  }
  return out;
}
