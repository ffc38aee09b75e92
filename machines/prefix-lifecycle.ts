import { assign, fromPromise, setup } from 'xstate';
import {
  allHeld,
  failureFrom,
  firstAttempt,
  held,
  isUnknownOutcome,
  now,
  updateAttempt,
  withAttempt,
  withoutAttempt,
  withPending,
} from './context.ts';
import type {
  AllocateInput,
  Allocation,
  CpeInput,
  CpeResult,
  LifecycleContext,
  LifecycleEvent,
  LifecycleInput,
  RadiusReplyInput,
  ReleaseInput,
  RollbackInput,
  SessionOutcome,
  SessionsInput,
  StepId,
} from './types.ts';

/** Leaves for `failed`, recording which step failed and why. */
const failTo = (step: StepId) => ({ target: '#prefixLifecycle.failed', actions: { type: 'fail', params: { step } } }) as const;
/** Undoes an update that failed at `step`; the lifecycle stays active on its old prefix. */
const rollBackFrom = (step: StepId) => ({ target: 'updateRollback', actions: { type: 'noteUpdateError', params: { step } } }) as const;
const radiusInput = ({ context }: { context: LifecycleContext }): RadiusReplyInput => ({ username: context.username, prefix: context.held });
const cpeInput = ({ context }: { context: LifecycleContext }): CpeInput => ({
  lifecycleId: context.lifecycleId,
  cpeId: context.cpeId,
  prefix: context.held?.prefix ?? null,
  generation: context.generation,
});

// Typed stubs: the composition root provides the real actors with `.provide()`.
const notProvided = (name: string) => () => Promise.reject(new Error(`actor ${name} not provided`));

export const prefixLifecycle = setup({
  types: {
    context: {} as LifecycleContext,
    events: {} as LifecycleEvent,
    input: {} as LifecycleInput,
    tags: {} as 'busy',
  },
  actors: {
    allocatePrefix: fromPromise<Allocation, AllocateInput>(notProvided('allocatePrefix')),
    releasePrefix: fromPromise<void, ReleaseInput>(notProvided('releasePrefix')),
    writeRadiusReply: fromPromise<void, RadiusReplyInput>(notProvided('writeRadiusReply')),
    removeRadiusReply: fromPromise<void, RadiusReplyInput>(notProvided('removeRadiusReply')),
    notifySessions: fromPromise<SessionOutcome[], SessionsInput>(notProvided('notifySessions')),
    configureCpe: fromPromise<CpeResult, CpeInput>(notProvided('configureCpe')),
    removeCpeIpv6: fromPromise<CpeResult, CpeInput>(notProvided('removeCpeIpv6')),
    rollbackUpdate: fromPromise<void, RollbackInput>(notProvided('rollbackUpdate')),
  },
  guards: {
    failedAt: ({ context }, params: { step: StepId }) => context.failedAt === params.step,
  },
  actions: {
    fail: assign(({ context, event }, params: { step: StepId }) => ({
      failure: failureFrom((event as { error?: unknown }).error, params.step, context),
      failedAt: params.step,
    })),
    clearFailure: assign({ failure: null, failedAt: null }),
    noteUpdateError: assign(({ context, event }, params: { step: StepId }) => ({
      lastError: failureFrom((event as { error?: unknown }).error, params.step, context),
    })),
  },
}).createMachine({
  id: 'prefixLifecycle',
  initial: 'pending',
  context: ({ input }) => ({
    ...input,
    held: null,
    generation: 0,
    unconfirmed: [],
    next: null,
    nextRequest: null,
    retired: null,
    username: null,
    cpeId: null,
    allocatedAt: null,
    activatedAt: null,
    suspendedAt: null,
    revokedAt: null,
    failure: null,
    failedAt: null,
    lastError: null,
    pending: [],
    reason: null,
  }),
  on: {
    PENDING_RESOLVED: {
      actions: assign({ pending: ({ context, event }) => context.pending.filter((p) => p.step !== event.step) }),
    },
    PENDING_DEFERRED: {
      actions: assign({
        pending: ({ context, event }) =>
          context.pending.map((p) =>
            p.step === event.step ? { ...p, attempts: p.attempts + 1, next_attempt_at: event.next_attempt_at } : p,
          ),
      }),
    },
  },
  states: {
    pending: {
      tags: 'busy',
      invoke: {
        src: 'allocatePrefix',
        input: ({ context }) => ({
          lifecycleId: context.lifecycleId,
          subscriberId: context.subscriberId,
          pool: context.pool,
          prefixLength: context.prefixLength,
          generation: context.generation,
        }),
        onDone: {
          target: 'allocated',
          actions: assign(({ context, event }) => ({
            held: held(event.output, firstAttempt(context)),
            unconfirmed: withoutAttempt(context.unconfirmed, context.generation),
            allocatedAt: now(),
          })),
        },
        onError: {
          target: 'failed',
          actions: [
            { type: 'fail', params: { step: 'allocate' } },
            assign({
              unconfirmed: ({ context, event }) =>
                isUnknownOutcome(event.error) ? withAttempt(context.unconfirmed, firstAttempt(context)) : context.unconfirmed,
            }),
          ],
        },
      },
    },

    allocated: {
      initial: 'idle',
      states: {
        idle: {
          on: {
            ACTIVATE: {
              target: 'radius',
              actions: assign(({ event }) => ({ username: event.username, cpeId: event.cpeId })),
            },
            REVOKE: { target: '#prefixLifecycle.revoking', actions: assign({ reason: ({ event }) => event.reason }) },
          },
        },
        radius: {
          tags: 'busy',
          invoke: {
            src: 'writeRadiusReply',
            input: radiusInput,
            onDone: 'cpe',
            onError: failTo('activate_radius'),
          },
        },
        cpe: {
          tags: 'busy',
          invoke: {
            src: 'configureCpe',
            input: cpeInput,
            onDone: {
              target: '#prefixLifecycle.active',
              actions: assign(({ context, event }) => ({
                pending: withPending(context.pending, 'cpe_configure_pd', event.output, context.generation),
                activatedAt: now(),
              })),
            },
            onError: failTo('activate_cpe'),
          },
        },
      },
    },

    active: {
      initial: 'idle',
      states: {
        idle: {
          on: {
            SUSPEND: { target: 'suspendRadius', actions: assign({ reason: ({ event }) => event.reason }) },
            UPDATE: {
              target: 'updateAllocate',
              // Every attempt gets its own generation, so its idempotency keys are its own.
              actions: assign(({ context, event }) => ({
                nextRequest: { pool: event.pool, prefixLength: event.prefixLength, ipam: event.ipam },
                generation: context.generation + 1,
                lastError: null,
              })),
            },
            REVOKE: { target: '#prefixLifecycle.revoking', actions: assign({ reason: ({ event }) => event.reason }) },
          },
        },
        suspendRadius: {
          tags: 'busy',
          invoke: {
            src: 'removeRadiusReply',
            input: radiusInput,
            onDone: 'suspendSessions',
            onError: failTo('suspend_radius'),
          },
        },
        suspendSessions: {
          tags: 'busy',
          invoke: {
            src: 'notifySessions',
            input: ({ context }) => ({ username: context.username, purpose: 'suspend', prefix: context.held?.prefix ?? null }),
            onDone: { target: '#prefixLifecycle.suspended', actions: assign({ suspendedAt: () => now() }) },
            onError: failTo('suspend_sessions'),
          },
        },
        updateAllocate: {
          tags: 'busy',
          invoke: {
            src: 'allocatePrefix',
            input: ({ context }) => ({
              lifecycleId: context.lifecycleId,
              subscriberId: context.subscriberId,
              pool: context.nextRequest!.pool,
              prefixLength: context.nextRequest!.prefixLength,
              generation: context.generation,
            }),
            onDone: {
              target: 'updateRadius',
              actions: assign(({ context, event }) => ({
                next: held(event.output, updateAttempt(context)),
                unconfirmed: withoutAttempt(context.unconfirmed, context.generation),
              })),
            },
            onError: [
              // The answer was lost: IPAM may hold a prefix under this attempt's key, so roll back to give it back.
              {
                guard: ({ event }) => isUnknownOutcome(event.error),
                target: 'updateRollback',
                actions: assign(({ context, event }) => ({
                  lastError: failureFrom(event.error, 'update_allocate', context),
                  unconfirmed: withAttempt(context.unconfirmed, updateAttempt(context)),
                })),
              },
              // IPAM said no for certain: nothing was taken, the lifecycle stays as it was.
              {
                target: 'idle',
                actions: assign(({ context, event }) => ({
                  lastError: failureFrom(event.error, 'update_allocate', context),
                  nextRequest: null,
                })),
              },
            ],
          },
        },
        updateRadius: {
          tags: 'busy',
          invoke: {
            src: 'writeRadiusReply',
            input: ({ context }) => ({ username: context.username, prefix: context.next }),
            onDone: 'updateSessions',
            onError: rollBackFrom('update_radius'),
          },
        },
        updateSessions: {
          tags: 'busy',
          invoke: {
            src: 'notifySessions',
            input: ({ context }) => ({ username: context.username, purpose: 'update', prefix: context.next?.prefix ?? null }),
            onDone: 'updateCpe',
            onError: rollBackFrom('update_sessions'),
          },
        },
        updateCpe: {
          tags: 'busy',
          invoke: {
            src: 'configureCpe',
            input: ({ context }) => ({
              lifecycleId: context.lifecycleId,
              cpeId: context.cpeId,
              prefix: context.next?.prefix ?? null,
              generation: context.generation,
            }),
            // The subscriber now uses the new prefix: commit it, then give the old one back.
            onDone: {
              target: 'updateRelease',
              actions: assign(({ context, event }) => ({
                pending: withPending(context.pending, 'cpe_configure_pd', event.output, context.generation),
                retired: context.held,
                held: context.next,
                pool: context.next!.pool,
                prefixLength: context.next!.prefixLength,
                ipam: context.nextRequest!.ipam,
                next: null,
                nextRequest: null,
                activatedAt: now(),
              })),
            },
            onError: rollBackFrom('update_cpe'),
          },
        },
        updateRelease: {
          tags: 'busy',
          invoke: {
            src: 'releasePrefix',
            input: ({ context }) => ({
              lifecycleId: context.lifecycleId,
              subscriberId: context.subscriberId,
              prefixes: context.retired ? [context.retired] : [],
              unconfirmed: [],
            }),
            onDone: { target: 'idle', actions: assign({ retired: null }) },
            onError: failTo('update_release'),
          },
        },
        updateRollback: {
          tags: 'busy',
          invoke: {
            src: 'rollbackUpdate',
            input: ({ context }) => ({
              lifecycleId: context.lifecycleId,
              subscriberId: context.subscriberId,
              username: context.username,
              cpeId: context.cpeId,
              generation: context.generation,
              restore: context.held,
              release: context.next,
              unconfirmed: context.unconfirmed,
            }),
            onDone: { target: 'idle', actions: assign({ next: null, nextRequest: null, unconfirmed: [] }) },
            onError: failTo('update_rollback'),
          },
        },
      },
    },

    suspended: {
      initial: 'idle',
      states: {
        idle: {
          on: {
            REACTIVATE: 'reactivateRadius',
            REVOKE: { target: '#prefixLifecycle.revoking', actions: assign({ reason: ({ event }) => event.reason }) },
          },
        },
        reactivateRadius: {
          tags: 'busy',
          invoke: {
            src: 'writeRadiusReply',
            input: radiusInput,
            onDone: 'reactivateSessions',
            onError: failTo('reactivate_radius'),
          },
        },
        reactivateSessions: {
          tags: 'busy',
          invoke: {
            src: 'notifySessions',
            input: ({ context }) => ({ username: context.username, purpose: 'reactivate', prefix: context.held?.prefix ?? null }),
            onDone: { target: '#prefixLifecycle.active', actions: assign({ activatedAt: () => now(), reason: null }) },
            onError: failTo('reactivate_sessions'),
          },
        },
      },
    },

    // The mission's order: IPAM, RADIUS attributes, sessions, CPE.
    revoking: {
      initial: 'release',
      states: {
        release: {
          tags: 'busy',
          invoke: {
            src: 'releasePrefix',
            input: ({ context }) => ({
              lifecycleId: context.lifecycleId,
              subscriberId: context.subscriberId,
              prefixes: allHeld(context),
              unconfirmed: context.unconfirmed,
            }),
            onDone: { target: 'radius', actions: assign({ unconfirmed: [] }) },
            onError: failTo('revoke_release'),
          },
        },
        radius: {
          tags: 'busy',
          invoke: {
            src: 'removeRadiusReply',
            input: radiusInput,
            onDone: 'sessions',
            onError: failTo('revoke_radius'),
          },
        },
        sessions: {
          tags: 'busy',
          invoke: {
            src: 'notifySessions',
            input: ({ context }) => ({ username: context.username, purpose: 'revoke', prefix: context.held?.prefix ?? null }),
            onDone: 'cpe',
            onError: failTo('revoke_sessions'),
          },
        },
        cpe: {
          tags: 'busy',
          invoke: {
            src: 'removeCpeIpv6',
            input: cpeInput,
            onDone: {
              target: '#prefixLifecycle.revoked',
              actions: assign(({ context, event }) => ({
                pending: withPending(context.pending, 'cpe_remove_ipv6', event.output, context.generation),
                next: null,
                nextRequest: null,
                retired: null,
                revokedAt: now(),
              })),
            },
            onError: failTo('revoke_cpe'),
          },
        },
      },
    },

    // Not `final`: a revoked lifecycle still takes PENDING_* events for an offline CPE.
    revoked: {},

    failed: {
      on: {
        RETRY: [
          { guard: { type: 'failedAt', params: { step: 'allocate' } }, target: 'pending', actions: 'clearFailure' },
          { guard: { type: 'failedAt', params: { step: 'activate_radius' } }, target: 'allocated.radius', actions: 'clearFailure' },
          { guard: { type: 'failedAt', params: { step: 'activate_cpe' } }, target: 'allocated.cpe', actions: 'clearFailure' },
          { guard: { type: 'failedAt', params: { step: 'suspend_radius' } }, target: 'active.suspendRadius', actions: 'clearFailure' },
          { guard: { type: 'failedAt', params: { step: 'suspend_sessions' } }, target: 'active.suspendSessions', actions: 'clearFailure' },
          { guard: { type: 'failedAt', params: { step: 'reactivate_radius' } }, target: 'suspended.reactivateRadius', actions: 'clearFailure' },
          { guard: { type: 'failedAt', params: { step: 'reactivate_sessions' } }, target: 'suspended.reactivateSessions', actions: 'clearFailure' },
          { guard: { type: 'failedAt', params: { step: 'update_release' } }, target: 'active.updateRelease', actions: 'clearFailure' },
          { guard: { type: 'failedAt', params: { step: 'update_rollback' } }, target: 'active.updateRollback', actions: 'clearFailure' },
          { guard: { type: 'failedAt', params: { step: 'revoke_release' } }, target: 'revoking.release', actions: 'clearFailure' },
          { guard: { type: 'failedAt', params: { step: 'revoke_radius' } }, target: 'revoking.radius', actions: 'clearFailure' },
          { guard: { type: 'failedAt', params: { step: 'revoke_sessions' } }, target: 'revoking.sessions', actions: 'clearFailure' },
          { guard: { type: 'failedAt', params: { step: 'revoke_cpe' } }, target: 'revoking.cpe', actions: 'clearFailure' },
        ],
        // Every revocation step is idempotent, so a failed lifecycle can always be given back.
        REVOKE: { target: 'revoking', actions: ['clearFailure', assign({ reason: ({ event }) => event.reason })] },
      },
    },
  },
});

export type PrefixLifecycleMachine = typeof prefixLifecycle;
