// Verified dynamic authorization: an ACK says the NAS accepted the request, not that it acted on it
// (some ACK attributes they ignore). Within a configured window, radacct is read again for the
// effect: a disconnected session's row stopped (Accounting-Stop), or, for a CoA that moves the
// prefix, the session's own row reporting the new Delegated-IPv6-Prefix (an Interim-Update) or a
// new session on the same NAS reporting it (a Start after re-authentication). Another NAS's
// accounting says nothing of what this NAS did with its CoA. What accounting never showed stays an
// ACK, marked `acked_unconfirmed`, and is logged.
import type { Logger } from 'pino';
import { formatPrefix, parsePrefix } from '../ipv6.ts';
import { canonicalIpAddress } from './ipv6-prefix.ts';
import type { NotifySessionsCommand, SessionOutcome } from './port.ts';
import type { NasTarget } from './nas-table.ts';
import type { OpenSession, SessionSource } from './sessions.ts';

export interface ConfirmOptions {
  sessions: SessionSource;
  windowMs: number;
  pollMs: number;
  /** The NAS's profile: whether its accounting shows PD, what an unconfirmed CoA becomes. */
  target(nas: string): Pick<NasTarget, 'reportsPd' | 'unconfirmedCoa'>;
  /** Sends the session a Disconnect-Request (the fallback for an unconfirmed CoA). */
  disconnect(session: OpenSession): Promise<SessionOutcome>;
  log: Logger;
}

const canonical = (p: string | null): string | null => {
  if (!p) return null;
  try {
    return formatPrefix(parsePrefix(p, 'prefix'));
  } catch {
    return p;
  }
};

// The outcome's `nas` is canonical (dynamic-authorization.ts); a radacct row's may be written otherwise.
const canonicalNas = (nas: string): string => {
  try {
    return canonicalIpAddress(nas);
  } catch {
    return nas.trim();
  }
};

/** The outcomes with each ACK replaced by `confirmed` or `acked_unconfirmed` (others unchanged). */
export async function confirmFromAccounting(
  cmd: NotifySessionsCommand,
  sent: { session: OpenSession; outcome: SessionOutcome }[],
  opts: ConfirmOptions,
  signal?: AbortSignal,
): Promise<SessionOutcome[]> {
  const wanted = canonical(cmd.delegatedPrefix);
  // A CoA that carries no prefix has no effect accounting would show: it stays a plain ACK.
  const checkable = (o: SessionOutcome) => o.result === 'ack' && (o.action === 'disconnect' || wanted !== null);
  // A NAS whose accounting never shows PD cannot confirm a CoA: no point waiting for it.
  const pollable = (o: SessionOutcome) => o.action === 'disconnect' || opts.target(o.nas).reportsPd;
  const pending = new Set(sent.filter((s) => checkable(s.outcome) && pollable(s.outcome)).map((s) => s.session.acctUniqueId));
  const unconfirmable = new Set(sent.filter((s) => checkable(s.outcome) && !pollable(s.outcome)).map((s) => s.session.acctUniqueId));
  if (pending.size === 0 && unconfirmable.size === 0) return sent.map((s) => s.outcome);
  // A row whose NAS did not ACK the CoA may be stale (a Stop that never came: the NAS answered
  // Session-Context-Not-Found, or crashed and answers nothing): the prefix it shows was reported
  // before, maybe by a session that no longer exists, and proves no CoA. A row whose CoA was ACKed
  // confirms its own session; a row not sent to (a new Start) confirms the sessions on its NAS.
  const stale = new Set(sent.filter((s) => !(s.outcome.result === 'ack' && s.outcome.action === 'coa')).map((s) => s.session.acctUniqueId));
  const sentIds = new Set(sent.map((s) => s.session.acctUniqueId));
  const confirmed = new Set<string>();
  const deadline = Date.now() + opts.windowMs;
  while (pending.size > 0) {
    const open = await opts.sessions.openSessions(cmd.username, signal);
    const stillOpen = new Set(open.map((o) => o.acctUniqueId));
    const reporting = open.filter((o) => wanted !== null && !stale.has(o.acctUniqueId) && canonical(o.delegatedIpv6Prefix) === wanted);
    const ownRowReports = new Set(reporting.map((o) => o.acctUniqueId));
    const newSessionReportsOn = new Set(reporting.filter((o) => !sentIds.has(o.acctUniqueId)).map((o) => canonicalNas(o.nasIpAddress)));
    for (const s of sent) {
      const id = s.session.acctUniqueId;
      if (!pending.has(id)) continue;
      const done = s.outcome.action === 'disconnect' ? !stillOpen.has(id) : ownRowReports.has(id) || newSessionReportsOn.has(canonicalNas(s.outcome.nas));
      if (done) {
        pending.delete(id);
        confirmed.add(id);
      }
    }
    if (pending.size === 0 || Date.now() >= deadline) break;
    await new Promise<void>((resolve, reject) => {
      // One listener at a time: a long window polls many times on the same signal.
      const onAbort = () => (clearTimeout(t), reject(signal!.reason));
      const t = setTimeout(() => (signal?.removeEventListener('abort', onAbort), resolve()), Math.min(opts.pollMs, Math.max(0, deadline - Date.now())));
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }
  for (const id of unconfirmable) pending.add(id);
  const results = sent.map(({ session, outcome }): SessionOutcome => {
    if (confirmed.has(session.acctUniqueId)) return { ...outcome, result: 'confirmed' as const };
    if (!pending.has(session.acctUniqueId)) return outcome;
    opts.log.warn(
      { username: cmd.username, session_id: session.acctSessionId, nas: outcome.nas, action: outcome.action, window_ms: opts.windowMs },
      outcome.action === 'disconnect' ? 'NAS ACKed the Disconnect, but radacct still shows the session open' : 'NAS ACKed the CoA, but no session reports the new Delegated-IPv6-Prefix',
    );
    return { ...outcome, result: 'acked_unconfirmed' as const };
  });
  // The profile's fallback: a CoA not confirmed ends the session, which re-authenticates and reads the new radreply.
  return Promise.all(
    results.map((outcome, i) => {
      const { session } = sent[i]!;
      if (outcome.result !== 'acked_unconfirmed' || outcome.action !== 'coa' || opts.target(outcome.nas).unconfirmedCoa !== 'disconnect') return outcome;
      opts.log.warn({ username: cmd.username, session_id: session.acctSessionId, nas: outcome.nas }, 'CoA not confirmed: disconnecting the session instead');
      return opts.disconnect(session);
    }),
  );
}
