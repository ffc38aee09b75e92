// The crash test's scenario for allocations made at once (runtime/at-once.ts): on the embedded IPAM
// a new lifecycle's IPAM row, its `allocated` row and its audit entries are written in the group
// commit's transaction, with no actor. A burst of concurrent allocations fills one transaction with
// many of them; revocations (actor steps) then run while more allocations come in, so one batch
// holds both. Every request goes through HTTP with an Idempotency-Key, as a client sends it, and
// what the client heard is kept in a file of its own (client.sqlite), so the checks can hold the
// service to every 201 it gave, across the kill.

export type AtOnceOp = 'allocate' | 'revoke';

export interface AtOnceRequest {
  subscriber: string;
  op: AtOnceOp;
  /** The Idempotency-Key: the same in every run, so a request sent again after the kill is the same request. */
  key: string;
}

const names = (prefix: string, n: number) => Array.from({ length: n }, (_, i) => `${prefix}${String(i + 1).padStart(2, '0')}`);
const request = (subscriber: string, op: AtOnceOp): AtOnceRequest => ({ subscriber, op, key: `crash-${op}-${subscriber}` });

/** 50 allocations at once: more than one batch's worth only if the group commit fails to gather them. */
export const BURST = names('a', 50);
/** The first of the burst are revoked while these new subscribers are allocated. */
export const REVOKED = BURST.slice(0, 10);
export const LATE = names('b', 20);

/** Phases run one after the other; the requests of a phase are sent concurrently. */
export const AT_ONCE_PHASES: ReadonlyArray<{ name: string; requests: AtOnceRequest[] }> = [
  { name: 'burst', requests: BURST.map((s) => request(s, 'allocate')) },
  { name: 'mixed', requests: [...REVOKED.map((s) => request(s, 'revoke')), ...LATE.map((s) => request(s, 'allocate'))] },
];

/** Where each subscriber rests once the scenario has been run to the end (by the killed run, then the recovery). */
export function settledState(subscriber: string): 'allocated' | 'revoked' {
  return REVOKED.includes(subscriber) ? 'revoked' : 'allocated';
}

export const AT_ONCE_SUBSCRIBERS = [...BURST, ...LATE];

/** One answer the client heard. */
export interface Heard {
  run: string;
  subscriber: string;
  op: AtOnceOp;
  key: string;
  status: number;
  lifecycle_id: string | null;
  prefix: string | null;
  state: string | null;
  /** `true` when the service said it replayed the key's stored answer. */
  replayed: number;
}
