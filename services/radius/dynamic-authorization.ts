// RFC 5176 Dynamic Authorization client: for each open session of a user (from radacct), send
// its NAS a Disconnect-Request or CoA-Request and interpret the answer.
import { randomInt } from 'node:crypto';
import { isIP } from 'node:net';
import type { Logger } from 'pino';
import radius from 'radius';
import { ServiceError } from '../errors.ts';
import { signRequest, verifyResponse, readAttributes } from './authenticators.ts';
import type { RadiusConfig } from './config.ts';
import { canonicalIpAddress, encodeIpv6Address, encodeIpv6Prefix, type PrefixForm } from './ipv6-prefix.ts';
import type { DynamicAuthorizationPort, NotifySessionsCommand, SessionAction, SessionOutcome } from './port.ts';
import { createSessionSource, type OpenSession, type SessionSource } from './sessions.ts';
import { resolveNasTable, type NasTarget, type NasTable } from './nas-table.ts';
import { coaFallsBack, combineFailures, nakError, SESSION_CONTEXT_NOT_FOUND, UNSUPPORTED_CAUSES } from './notify-error.ts';
import { exchange } from './udp-exchange.ts';
import { unescaped } from './sql-escape.ts';
import { confirmFromAccounting } from './confirm.ts';

const ERROR_CAUSE = 101;

const CODES: Record<SessionAction, { request: string; ack: number; nak: number }> = {
  disconnect: { request: 'Disconnect-Request', ack: 41, nak: 42 },
  coa: { request: 'CoA-Request', ack: 44, nak: 45 },
};

export interface DynamicAuthorizationOptions {
  nas: NasTable;
  timeoutMs: number;
  retries: number;
  messageAuthenticator: boolean;
  prefixForm: PrefixForm;
  /** 0: an ACK is taken as it is; else how long radacct is watched for its effect. */
  confirmWindowMs?: number;
  confirmPollMs?: number;
  /**
   * radius.reply.framed_prefix first64: the WAN /64 moves with the delegation, and a CoA cannot move
   * it (Framed-IPv6-Prefix identifies the session, RFC 5176 §3), so a CoA with a prefix is a Disconnect.
   */
  framedFollowsDelegation?: boolean;
  log: Logger;
}

export { DynamicAuthorizationError } from './notify-error.ts';

/** DynamicAuthorizationPort over UDP, one socket per request. */
export class RadiusDynamicAuthorization implements DynamicAuthorizationPort {
  constructor(
    private readonly sessions: SessionSource,
    private readonly opts: DynamicAuthorizationOptions,
  ) {}

  /** Notifies the NAS of every open session of the user; resolves with one outcome per session. */
  async notifySessions(cmd: NotifySessionsCommand, signal?: AbortSignal): Promise<SessionOutcome[]> {
    const sessions = await this.sessions.openSessions(cmd.username, signal);
    if (sessions.length === 0) {
      this.opts.log.info({ username: cmd.username, action: cmd.action }, 'no open session to notify');
      return [];
    }
    const settled = await Promise.allSettled(sessions.map((s) => this.notifyOne(s, cmd, signal)));
    signal?.throwIfAborted();
    let outcomes: SessionOutcome[] = [];
    const sent: { session: OpenSession; outcome: SessionOutcome }[] = [];
    const failures: ServiceError[] = [];
    for (const [i, r] of settled.entries()) {
      if (r.status === 'fulfilled') {
        outcomes.push(r.value.outcome);
        sent.push({ session: sessions[i]!, outcome: r.value.outcome });
        if (r.value.failure) failures.push(r.value.failure);
      } else if (r.reason instanceof ServiceError) {
        failures.push(r.reason);
      } else {
        throw r.reason;
      }
    }
    if (failures.length === 0 && (this.opts.confirmWindowMs ?? 0) > 0) {
      outcomes = await confirmFromAccounting(
        cmd,
        sent,
        {
          sessions: this.sessions,
          windowMs: this.opts.confirmWindowMs!,
          pollMs: this.opts.confirmPollMs ?? 250,
          target: (nas) => this.opts.nas.lookup(nas),
          disconnect: async (session) => {
            const r = await this.notifyOne(session, { ...cmd, action: 'disconnect' }, signal);
            if (r.failure) throw r.failure;
            return r.outcome;
          },
          log: this.opts.log,
        },
        signal,
      );
    }
    if (failures.length === 0) return outcomes;
    throw combineFailures(failures, outcomes);
  }

  private async notifyOne(
    session: OpenSession,
    cmd: NotifySessionsCommand,
    signal?: AbortSignal,
  ): Promise<{ outcome: SessionOutcome; failure: ServiceError | null }> {
    const log = this.opts.log.child({ username: cmd.username, session_id: session.acctSessionId });
    let nas: string;
    try {
      nas = canonicalIpAddress(session.nasIpAddress);
    } catch {
      // Debian's stock start query stores only NAS-IP-Address, so an IPv6-only NAS leaves it empty.
      log.warn({ nas: session.nasIpAddress }, 'open session has no usable NAS address; nothing sent');
      const outcome = { sessionId: session.acctSessionId, nas: session.nasIpAddress, action: cmd.action, attempts: 0, result: 'no_answer' as const, errorCause: null };
      return { outcome, failure: null };
    }
    const target = this.opts.nas.lookup(nas);
    if (target.secret === null) {
      throw new ServiceError('upstream_rejected', `no shared secret configured for NAS ${nas} (add it to radius.dynamic_authorization.nas or set default_secret_env)`);
    }
    const moves = this.opts.framedFollowsDelegation === true && cmd.delegatedPrefix !== null;
    const action: SessionAction = cmd.action === 'disconnect' || moves ? 'disconnect' : target.action;
    const codes = CODES[action];
    const identifier = randomInt(256);
    const packet = this.encode(action, identifier, nas, session, cmd, target);
    const base = { sessionId: session.acctSessionId, nas, action };
    // The request names the NAS by `nas` (radacct's key) wherever it is sent; log both when they differ.
    const ctx = { nas, ...(target.host === nas ? {} : { coa_address: target.host }), port: target.port, action, identifier };

    const { response, attempts } = await exchange({
      host: target.host,
      port: target.port,
      packet,
      timeoutMs: this.opts.timeoutMs,
      retries: this.opts.retries,
      signal,
      accept: (d) => d.length >= 20 && d[1] === identifier && (d[0] === codes.ack || d[0] === codes.nak) && verifyResponse(d, packet, target.secret!),
      onIgnored: (reason) => log.debug({ ...ctx, reason }, 'ignored while waiting for the NAS'),
    });

    if (response === null) {
      // Graceful degradation: an unreachable NAS must not block a revocation; the radreply rows are
      // already gone, so the session loses the prefix at its next re-authentication at the latest.
      log.warn({ ...ctx, attempts }, 'NAS did not answer the dynamic authorization request');
      return { outcome: { ...base, attempts, result: 'no_answer', errorCause: null }, failure: null };
    }
    const decoded = radius.decode_without_secret({ packet: response });
    const causeAttr = readAttributes(response).find((a) => a.type === ERROR_CAUSE && a.value.length === 4);
    const errorCause = causeAttr ? causeAttr.value.readUInt32BE(0) : null;
    if (response[0] === codes.ack) {
      log.info({ ...ctx, attempts, error_cause: errorCause }, `${decoded.code} received`);
      return { outcome: { ...base, attempts, result: 'ack', errorCause }, failure: null };
    }
    if (errorCause === SESSION_CONTEXT_NOT_FOUND) {
      log.info({ ...ctx, attempts, error_cause: errorCause }, `${decoded.code}: session already gone`);
      return { outcome: { ...base, attempts, result: 'not_found', errorCause }, failure: null };
    }
    if (action === 'coa' && coaFallsBack(errorCause)) {
      log.warn({ ...ctx, attempts, error_cause: errorCause }, `${decoded.code}: the NAS does not apply CoA here; sending a Disconnect-Request instead`);
      return this.notifyOne(session, { ...cmd, action: 'disconnect' }, signal);
    }
    if (errorCause !== null && UNSUPPORTED_CAUSES.has(errorCause)) {
      // As a NAS that never answers: radreply no longer offers the prefix, so the session loses it when it re-authenticates.
      log.warn({ ...ctx, attempts, error_cause: errorCause }, `${decoded.code}: the NAS does not disconnect here; continuing, the session keeps its attributes until it re-authenticates`);
      return { outcome: { ...base, attempts, result: 'unsupported', errorCause }, failure: null };
    }
    const causeName = typeof decoded.attributes['Error-Cause'] === 'string' ? (decoded.attributes['Error-Cause'] as string) : null;
    const failure = nakError(nas, decoded.code, session.acctSessionId, errorCause, causeName);
    // A NAS refusing (no CoA support, a policy) is its own condition, not a fault of this service: a
    // warning with the cause, no stack; the step decides what the refusal means for the lifecycle.
    log.warn({ ...ctx, attempts, error_cause: errorCause, retryable: failure.retryable }, failure.message);
    return { outcome: { ...base, attempts, result: 'nak', errorCause }, failure };
  }

  private encode(action: SessionAction, identifier: number, nas: string, session: OpenSession, cmd: NotifySessionsCommand, target: NasTarget): Buffer {
    // RFC 5176 §3: identify the NAS and the session; a Disconnect-Request carries nothing else.
    // The NAS's profile says which identify the session; one it has no value for is left out.
    // radacct holds text values as rlm_sql escaped them (joe+tag@isp as joe=2Btag@isp); the NAS
    // knows the session by the octets it sent, so those are what the request carries.
    const attributes: [string, string | Buffer][] = [];
    const sent = (type: string, stored: string) => {
      const octets = unescaped(stored);
      if (octets.length > 0) attributes.push([type, octets]);
    };
    for (const a of target.attributes) {
      if (a === 'User-Name') sent('User-Name', session.username);
      else if (a === 'Acct-Session-Id') sent('Acct-Session-Id', session.acctSessionId);
      else if (a === 'NAS-IP-Address') attributes.push(isIP(nas) === 6 ? ['NAS-IPv6-Address', encodeIpv6Address(nas)] : ['NAS-IP-Address', nas]);
      else if (a === 'Framed-IPv6-Prefix' && session.framedIpv6Prefix) attributes.push(['Framed-IPv6-Prefix', encodeIpv6Prefix(session.framedIpv6Prefix, 'full')]);
      else if (a === 'Calling-Station-Id' && session.callingStationId) sent('Calling-Station-Id', session.callingStationId);
    }
    if (action === 'coa' && cmd.delegatedPrefix !== null) {
      attributes.push(['Delegated-IPv6-Prefix', encodeIpv6Prefix(cmd.delegatedPrefix, this.opts.prefixForm)]);
    }
    if (this.opts.messageAuthenticator) attributes.push(['Message-Authenticator', Buffer.alloc(16)]);
    // The package lays out the attributes; signRequest then fixes MA and the authenticator in RFC order.
    const packet = radius.encode({ code: CODES[action].request, identifier, secret: target.secret!, attributes, add_message_authenticator: false });
    return signRequest(packet, target.secret!);
  }
}

/** Builds the RFC 5176 client from configuration; resolves NAS secrets from the environment now. */
export function createDynamicAuthorization(
  config: RadiusConfig,
  log: Logger,
  deps: { sessions?: SessionSource; env?: NodeJS.ProcessEnv } = {},
): DynamicAuthorizationPort & { close(): void | Promise<void> } {
  const child = log.child({ component: 'radius-dynauth' });
  const da = config.dynamic_authorization;
  const nas = resolveNasTable(da, deps.env ?? process.env);
  const own = deps.sessions ? null : createSessionSource(config, log, deps.env);
  const client = new RadiusDynamicAuthorization(deps.sessions ?? own!, {
    nas,
    timeoutMs: da.timeout_ms,
    retries: da.retries,
    messageAuthenticator: da.message_authenticator,
    prefixForm: da.prefix_encoding,
    confirmWindowMs: da.confirm_window_ms,
    confirmPollMs: da.confirm_poll_ms,
    framedFollowsDelegation: config.reply.framed_prefix === 'first64',
    log: child,
  });
  return {
    notifySessions: (cmd, signal) => client.notifySessions(cmd, signal),
    close: () => own?.close(),
  };
}
