import { assign, or, setup, stateIn } from 'xstate';
import { closeRefused, failTo, isRefusal, queueCpe, refused, register, rollBackFrom, stamp, step, undo } from './chart-parts.ts';
import * as ctx from './context.ts';
import * as input from './inputs.ts';
import { RESUMABLE, stepKey } from './steps.ts';
import type {
  AllocateInput,
  Allocation,
  Compensation,
  CpeInput,
  CpeResult,
  ImportEvent,
  ImportedState,
  LifecycleContext,
  LifecycleEvent,
  LifecycleInput,
  PendingStep,
  RadiusReplyInput,
  ReleaseInput,
  SessionOutcome,
  SessionsInput,
  Stamped,
  StepId,
} from './types.ts';

// The chart. What each action does to the context is in context.ts, each step's input in
// inputs.ts, each step's name, key and resume state in steps.ts, the transitions it repeats in
// chart-parts.ts.

export const prefixLifecycle = setup({
  types: {
    context: {} as LifecycleContext,
    events: {} as LifecycleEvent,
    input: {} as LifecycleInput,
    tags: {} as 'busy',
  },
  actors: {
    allocatePrefix: step<Allocation, AllocateInput>('allocatePrefix'),
    releasePrefix: step<void, ReleaseInput>('releasePrefix'),
    /** Makes quarantined prefixes reusable: nothing carries them any more. */
    freePrefix: step<void, ReleaseInput>('freePrefix'),
    writeRadiusReply: step<void, RadiusReplyInput>('writeRadiusReply'),
    removeRadiusReply: step<void, RadiusReplyInput>('removeRadiusReply'),
    notifySessions: step<SessionOutcome[], SessionsInput>('notifySessions'),
    configureCpe: step<CpeResult, CpeInput>('configureCpe'),
    /** Puts the CPE back on the old prefix; a CPE that cannot be reached keeps it as a pending step. */
    restoreCpe: step<CpeResult, CpeInput>('restoreCpe'),
    removeCpeIpv6: step<CpeResult, CpeInput>('removeCpeIpv6'),
  },
  guards: {
    failedAt: ({ context }, p: { step: StepId }) => context.failedAt === p.step,
    refused: (_, p: { error: unknown }) => isRefusal(p.error),
    importedAs: (_, p: { event: ImportEvent; state: ImportedState }) => p.event.state === p.state,
    /** Refused, and no earlier try of the key lost its answer: IPAM holds nothing for the lifecycle. */
    refusedOutright: ({ context }, p: { error: unknown }) => isRefusal(p.error) && context.unconfirmed.length === 0,
    undoNext: ({ context }, p: { is: Compensation }) => context.compensations.at(-1) === p.is,
    // Every revocation step is idempotent, so a failed lifecycle can always be given back.
    revocable: or([
      stateIn('#prefixLifecycle.allocated.idle'),
      stateIn('#prefixLifecycle.active.idle'),
      stateIn('#prefixLifecycle.suspended.idle'),
      stateIn('#prefixLifecycle.failed'),
    ]),
  },
  actions: {
    recordImport: assign((_, p: { event: ImportEvent }) => ctx.imported(p.event)),
    recordAllocation: assign(({ context }, p: { output: Stamped<Allocation> }) => ctx.allocated(context, p.output)),
    fail: assign(({ context }, p: { step: StepId; error: unknown }) => ctx.failed(context, p.step, p.error)),
    closeRefused: assign(({ context }, p: { error: unknown }) => ctx.closedRefused(context, p.error)),
    clearFailure: assign({ failure: null, failedAt: null }),
    noteSubscriber: assign((_, p: { username: string; cpeId: string | null }) => ({ username: p.username, cpeId: p.cpeId })),
    noteReason: assign((_, p: { reason: string | null }) => ({ reason: p.reason })),
    stamp: assign((_, p: { field: 'activatedAt' | 'reactivatedAt' | 'suspendedAt'; at: string }) => ({ [p.field]: p.at })),
    queueCpe: assign(({ context }, p: { step: PendingStep['step']; from: StepId; output: Stamped<CpeResult> }) => ({
      pending: ctx.queuedCpe(context, p.step, stepKey(context.lifecycleId, p.from, context.generation), p.output),
    })),
    resolvePending: assign(({ context }, p: { step: PendingStep['step']; generation?: number }) => ctx.pendingResolved(context, p.step, p.generation)),
    deferPending: assign(({ context }, p: { step: PendingStep['step']; at: string; error?: PendingStep['last_error'] }) => ctx.pendingDeferred(context, p.step, p.at, p.error)),
    startUpdate: assign(({ context }, p: NonNullable<LifecycleContext['nextRequest']>) => ctx.updateStarted(context, p)),
    recordNext: assign(({ context }, p: { output: Stamped<Allocation> }) => ctx.nextAllocated(context, p.output)),
    register: assign(({ context }, p: { step: StepId }) => ctx.registered(context, p.step)),
    failUpdate: assign(({ context }, p: { step: StepId; error: unknown }) => ctx.updateFailed(context, p.step, p.error)),
    commitUpdate: assign(({ context }, p: { output: Stamped<CpeResult> }) => ctx.updateCommitted(context, p.output)),
    compensated: assign(({ context }) => ctx.compensated(context)),
    nextReleased: assign(({ context }) => ctx.nextReleased(context)),
    deferNextRelease: assign(({ context }, p: { error: unknown }) => ctx.nextReleaseDeferred(context, p.error)),
    endRollback: assign(() => ctx.rolledBack()),
    clearRetired: assign({ retired: null }),
    clearUnconfirmed: assign({ unconfirmed: [] }),
    finishRevocation: assign(({ context }, p: { output: Stamped<void> }) => ({
      pending: context.pending.filter((x) => !x.release), // the revocation gave their blocks back
      next: null,
      nextRequest: null,
      retired: null,
      compensations: [],
      revokedAt: p.output.at,
    })),
  },
}).createMachine({
  id: 'prefixLifecycle',
  initial: 'pending',
  context: ({ input }) => ctx.initialContext(input),
  on: {
    PENDING_RESOLVED: { actions: { type: 'resolvePending', params: ({ event }) => ({ step: event.step, generation: event.generation }) } },
    PENDING_DEFERRED: { actions: { type: 'deferPending', params: ({ event }) => ({ step: event.step, at: event.next_attempt_at, error: event.error }) } },
    REVOKE: {
      guard: 'revocable',
      target: '.revoking',
      actions: ['clearFailure', { type: 'noteReason', params: ({ event }) => ({ reason: event.reason }) }],
    },
  },
  states: {
    pending: {
      tags: 'busy',
      // Adoption: the prefix is already in the field (and in IPAM); nothing outside runs. The runtime
      // computes the transition without starting the actor, so the allocation above never starts.
      on: {
        IMPORT: (['active', 'suspended', 'allocated'] as const).map((state) => ({
          guard: { type: 'importedAs' as const, params: ({ event }: { event: ImportEvent }) => ({ event, state }) },
          target: `#prefixLifecycle.${state}`,
          actions: { type: 'recordImport' as const, params: ({ event }: { event: ImportEvent }) => ({ event }) },
        })),
      },
      invoke: {
        src: 'allocatePrefix',
        input: input.firstAllocation,
        onDone: { target: 'allocated', actions: { type: 'recordAllocation', params: ({ event }) => ({ output: event.output }) } },
        onError: [
          // IPAM refused for certain (exhausted, unknown pool): close, so the subscriber can try again;
          // through revocation when an earlier try of the key lost its answer and may hold a prefix.
          { guard: refused('refusedOutright'), target: 'revoked', actions: closeRefused },
          { guard: refused('refused'), target: 'revoking', actions: closeRefused },
          failTo('allocate'),
        ],
      },
    },

    allocated: {
      initial: 'idle',
      states: {
        idle: {
          on: { ACTIVATE: { target: 'radius', actions: { type: 'noteSubscriber', params: ({ event }) => ({ username: event.username, cpeId: event.cpeId }) } } },
        },
        radius: { tags: 'busy', invoke: { src: 'writeRadiusReply', input: input.currentReply, onDone: 'cpe', onError: failTo('activate_radius') } },
        cpe: {
          tags: 'busy',
          invoke: {
            src: 'configureCpe',
            input: input.cpe('activate_cpe', 'current'),
            onDone: { target: '#prefixLifecycle.active', actions: [queueCpe('cpe_configure_pd', 'activate_cpe'), stamp('activatedAt')] },
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
            SUSPEND: { target: 'suspendRadius', actions: { type: 'noteReason', params: ({ event }) => ({ reason: event.reason }) } },
            UPDATE: {
              target: 'updateAllocate',
              actions: { type: 'startUpdate', params: ({ event }) => ({ pool: event.pool, prefixLength: event.prefixLength, ipam: event.ipam }) },
            },
          },
        },
        suspendRadius: { tags: 'busy', invoke: { src: 'removeRadiusReply', input: input.currentReply, onDone: 'suspendSessions', onError: failTo('suspend_radius') } },
        suspendSessions: {
          tags: 'busy',
          invoke: { src: 'notifySessions', input: input.sessions('suspend'), onDone: { target: '#prefixLifecycle.suspended', actions: stamp('suspendedAt') }, onError: failTo('suspend_sessions') },
        },

        // The update saga: each step that ran registers its compensation; a failure undoes them in reverse.
        updateAllocate: {
          tags: 'busy',
          invoke: {
            src: 'allocatePrefix',
            input: input.updateAllocation,
            onDone: { target: 'updateRadius', actions: { type: 'recordNext', params: ({ event }) => ({ output: event.output }) } },
            onError: rollBackFrom('update_allocate'),
          },
        },
        updateRadius: {
          tags: 'busy',
          invoke: { src: 'writeRadiusReply', input: input.nextReply, onDone: { target: 'updateSessions', actions: register('update_radius') }, onError: rollBackFrom('update_radius') },
        },
        updateSessions: {
          tags: 'busy',
          invoke: { src: 'notifySessions', input: input.sessions('update', 'next'), onDone: { target: 'updateCpe', actions: register('update_sessions') }, onError: rollBackFrom('update_sessions') },
        },
        updateCpe: {
          tags: 'busy',
          invoke: {
            src: 'configureCpe',
            input: input.cpe('update_cpe', 'next'),
            // The subscriber now uses the new prefix: commit it, then give the old one back.
            onDone: { target: 'updateRelease', actions: { type: 'commitUpdate', params: ({ event }) => ({ output: event.output }) } },
            onError: rollBackFrom('update_cpe'),
          },
        },
        updateRelease: {
          tags: 'busy',
          invoke: { src: 'releasePrefix', input: input.retiredRelease, onDone: { target: 'idle', actions: 'clearRetired' }, onError: failTo('update_release') },
        },
        updateRollback: {
          initial: 'choose',
          states: {
            choose: {
              always: [
                ...(['restoreCpe', 'restoreRadius', 'restoreSessions', 'releaseNext'] as const).map((is) => ({ guard: { type: 'undoNext' as const, params: { is } }, target: is })),
                // Nothing left to undo: the subscriber stays active on the old prefix.
                { target: '#prefixLifecycle.active.idle', actions: 'endRollback' as const },
              ],
            },
            restoreCpe: {
              tags: 'busy',
              invoke: {
                src: 'restoreCpe',
                input: input.cpe('rollback_cpe', 'current'),
                onDone: { target: 'choose', actions: ['compensated', queueCpe('cpe_configure_pd', 'rollback_cpe')] },
                onError: failTo('rollback_cpe'),
              },
            },
            restoreRadius: undo('writeRadiusReply', 'rollback_radius', input.currentReply),
            restoreSessions: undo('notifySessions', 'rollback_sessions', input.sessions('update')),
            releaseNext: {
              tags: 'busy',
              // IPAM not answering does not undo the rollback: the subscriber is on the old prefix again.
              invoke: {
                src: 'releasePrefix',
                input: input.nextRelease,
                onDone: { target: 'choose', actions: 'nextReleased' },
                onError: { target: 'choose', actions: { type: 'deferNextRelease', params: ({ event }) => ({ error: event.error }) } },
              },
            },
          },
        },
      },
    },

    suspended: {
      initial: 'idle',
      states: {
        idle: { on: { REACTIVATE: 'reactivateRadius' } },
        reactivateRadius: { tags: 'busy', invoke: { src: 'writeRadiusReply', input: input.currentReply, onDone: 'reactivateSessions', onError: failTo('reactivate_radius') } },
        reactivateSessions: {
          tags: 'busy',
          invoke: {
            src: 'notifySessions',
            input: input.sessions('reactivate'),
            onDone: { target: '#prefixLifecycle.active', actions: [stamp('reactivatedAt'), { type: 'noteReason', params: { reason: null } }] },
            onError: failTo('reactivate_sessions'),
          },
        },
      },
    },

    // The mission's order: IPAM, RADIUS attributes, sessions, CPE; then the quarantined space is freed.
    revoking: {
      initial: 'release',
      states: {
        release: { tags: 'busy', invoke: { src: 'releasePrefix', input: input.everythingRelease, onDone: { target: 'radius', actions: 'clearUnconfirmed' }, onError: failTo('revoke_release') } },
        radius: { tags: 'busy', invoke: { src: 'removeRadiusReply', input: input.currentReply, onDone: 'sessions', onError: failTo('revoke_radius') } },
        sessions: { tags: 'busy', invoke: { src: 'notifySessions', input: input.sessions('revoke'), onDone: 'cpe', onError: failTo('revoke_sessions') } },
        cpe: {
          tags: 'busy',
          invoke: {
            src: 'removeCpeIpv6',
            input: input.cpe('revoke_cpe', 'current'),
            onDone: { target: 'free', actions: queueCpe('cpe_remove_ipv6', 'revoke_cpe') },
            onError: failTo('revoke_cpe'),
          },
        },
        // Only now, with RADIUS, the sessions and the CPE done (or queued), may IPAM hand the space out again.
        free: {
          tags: 'busy',
          invoke: {
            src: 'freePrefix',
            input: input.everythingFree,
            onDone: { target: '#prefixLifecycle.revoked', actions: { type: 'finishRevocation', params: ({ event }) => ({ output: event.output }) } },
            onError: failTo('revoke_free'),
          },
        },
      },
    },

    // Not `final`: a revoked lifecycle still takes PENDING_* events for an offline CPE.
    revoked: {},

    failed: {
      on: {
        RETRY: RESUMABLE.map(({ step, resume }) => ({ guard: { type: 'failedAt' as const, params: { step } }, target: resume, actions: 'clearFailure' as const })),
      },
    },
  },
});

export type PrefixLifecycleMachine = typeof prefixLifecycle;
