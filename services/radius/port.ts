export interface WriteReplyCommand {
  /** The subscriber's RADIUS `User-Name`. */
  username: string;
  /** Delegated-IPv6-Prefix (RFC 4818), canonical form. */
  delegatedPrefix: string;
  /** Framed-IPv6-Prefix (RFC 3162), the WAN /64, when configured. */
  framedPrefix: string | null;
}

/** Reply attributes in FreeRADIUS's `radreply`: upserts and deletes touch only our attributes of that user. */
export interface RadiusReplyPort {
  /** Writes (or replaces) the user's prefix attributes. */
  writeReply(cmd: WriteReplyCommand, signal?: AbortSignal): Promise<void>;
  /** Removes the user's prefix attributes; removing absent rows is success. */
  removeReply(cmd: { username: string }, signal?: AbortSignal): Promise<void>;
}

export type SessionAction = 'disconnect' | 'coa';

export interface NotifySessionsCommand {
  username: string;
  /**
   * `disconnect` always sends a Disconnect-Request (revoke). `coa` means "the attributes changed":
   * the NAS gets a CoA-Request, or a Disconnect-Request (so it re-authenticates and reads the new
   * `radreply`) when configuration says that NAS is to be disconnected instead.
   */
  action: SessionAction;
  /** Prefix attributes to carry in a CoA-Request; ignored for Disconnect-Request. */
  delegatedPrefix: string | null;
}

/** What one NAS said about one session. */
export interface SessionOutcome {
  sessionId: string;
  nas: string;
  /** The request actually sent (per-NAS configuration may turn a `coa` into a `disconnect`). */
  action: SessionAction;
  /** Transmissions of the request: 1 + retransmits; 0 when nothing could be sent. */
  attempts: number;
  /**
   * `ack`, `nak` (with `errorCause`), `not_found` (NAK 503: done), `no_answer` or `unsupported` (a NAK
   * 405, 406 or 501 to a Disconnect: a warning, done; a CoA so NAKed, or NAKed 401 or 407, is sent again as a Disconnect). With
   * `dynamic_authorization.confirm_window_ms` set, an ACK is checked against accounting: `confirmed`
   * (the session is stopped, or reports the new Delegated-IPv6-Prefix) or `acked_unconfirmed` (a
   * warning: the NAS said yes, accounting did not show it within the window).
   */
  result: 'ack' | 'confirmed' | 'acked_unconfirmed' | 'nak' | 'not_found' | 'no_answer' | 'unsupported';
  errorCause: number | null;
}

/** RFC 5176 dynamic authorization towards the NAS of each open session (from `radacct`). */
export interface DynamicAuthorizationPort {
  /** Sends each open session's NAS a Disconnect- or CoA-Request; throws on a NAK other than 503. */
  notifySessions(cmd: NotifySessionsCommand, signal?: AbortSignal): Promise<SessionOutcome[]>;
}
