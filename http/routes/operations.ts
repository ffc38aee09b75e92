// The POST operations: each validates its body, hands it to the service with the `?wait=` budget,
// and answers 200 (201 for a new allocation) once settled, else 202 with a Location to poll; the
// operation goes on after a 202, and an Idempotency-Key stores its outcome (http/idempotency.ts).
import { z } from 'zod';
import type { Config } from '../../config.ts';
import type { LifecycleService } from '../../runtime/lifecycle-service.ts';
import type { Accepted, OperationResult, Ticket } from '../../runtime/operation-types.ts';
import { ServiceError } from '../../services/errors.ts';
import { keyedRequest } from '../idempotency.ts';
import {
  activateBody,
  allocateBody,
  idempotencyKey,
  lifecycleAccepted,
  lifecycleResource,
  operationQuery,
  reactivateBody,
  retryBody,
  revokeBody,
  suspendBody,
  updateBody,
  type OperationName,
} from '../schemas.ts';
import { parseInput } from '../validation.ts';
import { API_BASE, API_ERRORS, errorResponses, lifecycleLocation, type RouteContext, type RouteSpec } from './route.ts';

const lifecycleJson = { 'application/json': { schema: lifecycleResource } };

/**
 * Past `?wait=` plus this, an operation still without an answer answers 503 `unavailable` and goes
 * on. A safety net, so that no request hangs whatever the store does: the waits under it end by
 * `?wait=` (then 202), and this catches only a store call or a queue that never ends.
 */
export const ANSWER_GRACE_MS = 10_000;

/** The net's 503: the operation was not answered in time, and goes on. */
class NoAnswerYet extends ServiceError {}

/** `accepted`, or a NoAnswerYet once `ms` have passed without it. */
function answeredWithin(accepted: Promise<Accepted>, ms: number): Promise<Accepted> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<never>((_, reject) => {
    const message = `no answer within ${ms} ms (the store is slow or unavailable); the operation goes on: send it again, with its Idempotency-Key to hear its outcome`;
    timer = setTimeout(() => reject(new NoAnswerYet('unavailable', message, { retryable: true, retryAfterMs: 1000 })), ms);
  });
  return Promise.race([accepted, late]).finally(() => clearTimeout(timer));
}
const locationHeader = z.object({
  Location: z.string().meta({ description: 'The lifecycle to poll', example: `${API_BASE}/lifecycle/sub-42` }),
});

interface Operation<S extends z.ZodType> {
  verb: OperationName;
  body: S;
  summary: string;
  description: string;
  run: (input: z.output<S>, waitMs: number, ticket?: Ticket) => Promise<Accepted>;
  /** True for allocate, which answers 201 when it started a new lifecycle. */
  created?: boolean;
}

export function operationRoutes(service: LifecycleService, api: Config['api'], graceMs = ANSWER_GRACE_MS): RouteSpec[] {
  const query = operationQuery(api);
  const headers = z.object({ 'Idempotency-Key': idempotencyKey.optional() });

  const route = <S extends z.ZodType>(op: Operation<S>): RouteSpec => ({
    method: 'post',
    path: `${API_BASE}/${op.verb}`,
    operation: {
      operationId: op.verb,
      summary: op.summary,
      description: op.description,
      tags: ['lifecycle'],
      security: [{ bearer: [] }],
      requestParams: { query, header: headers },
      requestBody: { required: true, content: { 'application/json': { schema: op.body } } },
      responses: {
        '200': { description: op.created ? 'The subscriber’s existing live lifecycle; nothing was allocated' : 'Settled', content: lifecycleJson },
        ...(op.created ? { '201': { description: 'Allocated and settled', content: lifecycleJson, headers: locationHeader } } : {}),
        '202': {
          description: 'Accepted; not settled within `wait`: the lifecycle as it is now and the `operation` still carried out',
          content: { 'application/json': { schema: lifecycleAccepted } },
          headers: locationHeader,
        },
        ...errorResponses(...API_ERRORS, 404, 409, 413, 415, 422, 502, 504),
      },
    },
    handler: async (ctx: RouteContext) => {
      const input = parseInput(op.body, ctx.request.body, 'body');
      const { wait } = parseInput(query, { ...ctx.query }, 'query');
      const waitMs = wait ?? api.default_wait_ms;
      // With an Idempotency-Key: a replay of an operation still running follows it instead of running
      // it again, and the key's stored answer becomes this operation's outcome, not a 202.
      const keyed = keyedRequest(ctx);
      const subscriberId = (input as { subscriber_id: string }).subscriber_id;
      const followWaitMs = keyed?.waitMs ?? waitMs;
      const accepted = keyed?.running ? service.follow(subscriberId, keyed.running, followWaitMs) : op.run(input, waitMs, keyed?.ticket);
      let result: Accepted;
      try {
        result = await answeredWithin(accepted, (keyed?.running ? followWaitMs : waitMs) + graceMs);
      } catch (err) {
        // Past the net, as after a 202: the operation's outcome replaces its pending key when it comes.
        if (err instanceof NoAnswerYet && keyed && !keyed.running) keyed.final = { result: accepted.then((a) => (a.settled ? a : a.final)), answer: finalAnswer };
        throw err;
      }
      answer(ctx, result, op.verb);
      if (keyed && !keyed.running && !result.settled) keyed.final = { result: result.final, answer: finalAnswer };
    },
  });

  return [
    route({
      verb: 'allocate',
      body: allocateBody,
      created: true,
      summary: 'Allocate a delegated prefix to a subscriber',
      description: 'Answers 200 with the existing lifecycle when the subscriber already has a live one. 409 `pool_exhausted` when the pool has no free prefix of that length.',
      run: (b, w, t) => service.allocate(b, w, t),
    }),
    route({
      verb: 'activate',
      body: activateBody,
      summary: 'Activate: write the RADIUS reply attributes and configure DHCPv6-PD on the CPE',
      description: 'From `allocated`.',
      run: (b, w, t) => service.activate(b, w, t),
    }),
    route({
      verb: 'suspend',
      body: suspendBody,
      summary: 'Suspend: withdraw IPv6 service; the prefix stays reserved',
      description: 'From `active`. Removes the RADIUS attributes and notifies open sessions (CoA or Disconnect).',
      run: (b, w, t) => service.suspend(b, w, t),
    }),
    route({
      verb: 'reactivate',
      body: reactivateBody,
      summary: 'Reactivate: restore what suspend withdrew',
      description: 'From `suspended`.',
      run: (b, w, t) => service.reactivate(b, w, t),
    }),
    route({
      verb: 'revoke',
      body: revokeBody,
      summary: 'Revoke: give everything back (IPAM, RADIUS, sessions, CPE)',
      description: 'Revoking a revoked lifecycle answers 200 with it.',
      run: (b, w, t) => service.revoke(b, w, t),
    }),
    route({
      verb: 'update',
      body: updateBody,
      summary: 'Move an active subscriber to a new prefix',
      description: 'The old prefix is released once the new one is in place; a failure rolls back to the old one.',
      run: (b, w, t) => service.update(b, w, t),
    }),
    route({
      verb: 'retry',
      body: retryBody,
      summary: 'Resume a `failed` lifecycle at its failed step',
      description: 'From `failed`.',
      run: (b, w, t) => service.retry(b, w, t),
    }),
  ];
}

/** The status and body an operation's outcome answers; null while it is not settled. */
function finalAnswer(result: OperationResult): { status: number; body: unknown } | null {
  if (!result.settled) return null;
  return { status: result.created ? 201 : 200, body: result.lifecycle };
}

function answer(ctx: RouteContext, result: OperationResult, verb: OperationName): void {
  const location = lifecycleLocation(result.lifecycle.subscriber_id);
  if (!result.settled) {
    ctx.status = 202;
    ctx.set('Location', location);
    ctx.body = { ...result.lifecycle, operation: verb };
    return;
  }
  if (result.created) {
    ctx.status = 201;
    ctx.set('Location', location);
  } else {
    ctx.status = 200;
  }
  ctx.body = result.lifecycle;
}
