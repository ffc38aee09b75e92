// In-memory fakes of both RADIUS ports for the core's tests: deterministic, with injectable
// faults, and inspectable rows and requests. They follow the real implementations' rules
// (reply-attributes.ts; NAK 503 is done, 405, 406 and 501 are `unsupported` and a CoA so NAKed (or 401, 407) goes
// again as a Disconnect, other NAKs throw, silence is `no_answer`).
import type { ServiceError } from '../errors.ts';
import { createFaults, type FaultOptions } from '../faults.ts';
import type { DynamicAuthorizationPort, NotifySessionsCommand, RadiusReplyPort, SessionAction, SessionOutcome, WriteReplyCommand } from './port.ts';
import { desiredReply, managedAttributes, REPLY_OP, type FramedPrefixMode, type ReplyRow } from './reply-attributes.ts';
import { coaFallsBack, combineFailures, nakError, SESSION_CONTEXT_NOT_FOUND, UNSUPPORTED_CAUSES } from './notify-error.ts';

/** RadiusReplyPort in memory: `rows` is the `radreply` table. */
export class FakeRadiusReplyStore implements RadiusReplyPort {
  readonly rows: ReplyRow[] = [];
  readonly calls: { method: 'writeReply' | 'removeReply'; cmd: unknown }[] = [];
  private readonly faults = createFaults<'writeReply' | 'removeReply'>('fake radreply');
  private nextId = 1;
  private readonly managed: string[];

  constructor(private readonly opts: { framedPrefix?: FramedPrefixMode } = {}) {
    this.managed = managedAttributes(opts.framedPrefix ?? 'given');
  }

  /** Makes the next call(s) of `op` throw; by default a retryable `upstream_unavailable`. */
  failNext(op: 'writeReply' | 'removeReply', options?: FaultOptions): void {
    this.faults.failNext(op, options);
  }

  /** Adds a row as another tool would (for tests that check we leave it alone). */
  seed(row: Omit<ReplyRow, 'id'>): ReplyRow {
    const full = { id: this.nextId++, ...row };
    this.rows.push(full);
    return full;
  }

  /** The user's rows, in id order. */
  rowsOf(username: string): ReplyRow[] {
    return this.rows.filter((r) => r.username === username);
  }

  /** Writes (or replaces) the user's prefix attributes. */
  async writeReply(cmd: WriteReplyCommand, signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    this.calls.push({ method: 'writeReply', cmd: { ...cmd } });
    this.faults.run('writeReply', () => {
      const desired = desiredReply(cmd, this.opts.framedPrefix ?? 'given');
      for (const attribute of this.managed) {
        const value = desired.get(attribute) ?? null;
        const mine = this.rows.filter((r) => r.username === cmd.username && same(r.attribute, attribute));
        if (value !== null && mine.length === 1 && mine[0]!.op === REPLY_OP && mine[0]!.value === value && mine[0]!.attribute === attribute) continue;
        this.drop(cmd.username, attribute);
        if (value !== null) this.seed({ username: cmd.username, attribute, op: REPLY_OP, value });
      }
    });
  }

  /** Removes the user's prefix attributes; absent rows are success. */
  async removeReply(cmd: { username: string }, signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    this.calls.push({ method: 'removeReply', cmd: { ...cmd } });
    this.faults.run('removeReply', () => {
      for (const attribute of this.managed) this.drop(cmd.username, attribute);
    });
  }

  private drop(username: string, attribute: string): void {
    for (let i = this.rows.length - 1; i >= 0; i--) {
      const r = this.rows[i]!;
      if (r.username === username && same(r.attribute, attribute)) this.rows.splice(i, 1);
    }
  }
}

// FreeRADIUS's dictionary takes an attribute name in any case, as the real stores do.
const same = (a: string, b: string) => a.toLowerCase() === b.toLowerCase();

/** An open session the fake NAS knows. */
export interface FakeSession {
  username: string;
  sessionId: string;
  nas: string;
}

/** What a fake NAS answers: ACK, NAK with an Error-Cause, or nothing at all. */
export type FakeAnswer = { kind: 'ack' } | { kind: 'nak'; errorCause: number | null } | { kind: 'no_answer' };

/** A request the fake "sent". */
export interface FakeRequest extends FakeSession {
  action: SessionAction;
  delegatedPrefix: string | null;
}

/** DynamicAuthorizationPort in memory: `sessions` stands for radacct, `sent` for the wire. */
export class FakeDynamicAuthorization implements DynamicAuthorizationPort {
  readonly sessions: FakeSession[] = [];
  readonly sent: FakeRequest[] = [];
  private readonly faults = createFaults<'notifySessions'>('fake dynamic authorization');
  /** Decides each NAS's answer; ACK by default. */
  answer: (req: FakeRequest) => FakeAnswer = () => ({ kind: 'ack' });
  /** Attempts reported for a NAS that does not answer (1 + the real client's default retries). */
  noAnswerAttempts = 3;

  /** `action`: what a `coa` notification becomes, like `radius.dynamic_authorization.action`. */
  constructor(private readonly opts: { action?: SessionAction } = {}) {}

  /** Makes the next call(s) of `notifySessions` throw; by default a retryable `upstream_unavailable`. */
  failNext(op: 'notifySessions', options?: FaultOptions): void {
    this.faults.failNext(op, options);
  }

  /** Records an open session (an accounting Start). */
  openSession(s: FakeSession): void {
    this.sessions.push({ ...s });
  }

  /** Notifies every open session of the user; a Disconnect-ACK ends the session, as the NAS's Stop would. */
  async notifySessions(cmd: NotifySessionsCommand, signal?: AbortSignal): Promise<SessionOutcome[]> {
    signal?.throwIfAborted();
    return this.faults.run('notifySessions', () => this.notify(cmd));
  }

  private notify(cmd: NotifySessionsCommand): SessionOutcome[] {
    const outcomes: SessionOutcome[] = [];
    const failures: ServiceError[] = [];
    for (const s of this.sessions.filter((x) => x.username === cmd.username)) {
      const action: SessionAction = cmd.action === 'disconnect' ? 'disconnect' : (this.opts.action ?? 'coa');
      const { outcome, failure } = this.one(s, action, cmd.delegatedPrefix);
      outcomes.push(outcome);
      if (failure) failures.push(failure);
    }
    if (failures.length > 0) throw combineFailures(failures, outcomes);
    return outcomes;
  }

  /** One session, as the real client answers it (dynamic-authorization.ts). */
  private one(s: FakeSession, action: SessionAction, delegatedPrefix: string | null): { outcome: SessionOutcome; failure: ServiceError | null } {
    const req: FakeRequest = { ...s, action, delegatedPrefix: action === 'coa' ? delegatedPrefix : null };
    this.sent.push(req);
    const a = this.answer(req);
    const base = { sessionId: s.sessionId, nas: s.nas, action };
    if (a.kind === 'no_answer') return { outcome: { ...base, attempts: this.noAnswerAttempts, result: 'no_answer', errorCause: null }, failure: null };
    if (a.kind === 'ack') {
      if (action === 'disconnect') this.sessions.splice(this.sessions.indexOf(s), 1);
      return { outcome: { ...base, attempts: 1, result: 'ack', errorCause: null }, failure: null };
    }
    if (a.errorCause === SESSION_CONTEXT_NOT_FOUND) return { outcome: { ...base, attempts: 1, result: 'not_found', errorCause: a.errorCause }, failure: null };
    if (action === 'coa' && coaFallsBack(a.errorCause)) return this.one(s, 'disconnect', null);
    if (a.errorCause !== null && UNSUPPORTED_CAUSES.has(a.errorCause)) {
      return { outcome: { ...base, attempts: 1, result: 'unsupported', errorCause: a.errorCause }, failure: null };
    }
    const failure = nakError(s.nas, action === 'coa' ? 'CoA-NAK' : 'Disconnect-NAK', s.sessionId, a.errorCause, null);
    return { outcome: { ...base, attempts: 1, result: 'nak', errorCause: a.errorCause }, failure };
  }
}
