// The lifecycle resource of `../shared/API.md`, as one zod schema: the runtime builds it
// (`projection.ts`), its type is inferred from it, and `http/` renders the same object into the
// OpenAPI document, so the type and the document cannot drift apart.
import { z } from 'zod';
import 'zod-openapi';
import { LIFECYCLE_STATES } from '../machines/types.ts';

export const timestamp = z.string().meta({ description: 'RFC 3339 UTC', format: 'date-time', example: '2026-11-26T10:00:00.000Z' });

const failure = z
  .object({ step: z.string(), code: z.string(), message: z.string(), attempts: z.int(), at: timestamp })
  .meta({ id: 'Failure', description: 'Why a step gave up after its retries' });

/** The operations whose outside work a lifecycle can be running (a retry runs as the step it resumes). */
export const IN_PROGRESS = ['allocate', 'activate', 'suspend', 'reactivate', 'revoke', 'update'] as const;
export type InProgress = (typeof IN_PROGRESS)[number];

export const lifecycleResource = z
  .object({
    lifecycle_id: z.string().meta({ description: 'This lifecycle; a subscriber has a new one after each revocation' }),
    subscriber_id: z.string(),
    state: z.enum(LIFECYCLE_STATES),
    prefix: z.string().nullable().meta({ example: '2001:db8:100::/56' }),
    prefix_length: z.int(),
    pool: z.string(),
    netbox_prefix_id: z.int().nullable().meta({ description: 'Null when the embedded IPAM serves the pool' }),
    username: z.string().nullable(),
    cpe_id: z.string().nullable(),
    allocated_at: timestamp.nullable(),
    activated_at: timestamp.nullable().meta({ description: 'The first activation; a reactivation or an update leaves it' }),
    reactivated_at: timestamp.nullable().meta({ description: 'The last reactivation after a suspension; null until the first' }),
    suspended_at: timestamp.nullable().meta({ description: 'The last suspension; it stays after a reactivation, earlier than `reactivated_at`' }),
    revoked_at: timestamp.nullable(),
    updated_at: timestamp,
    pending: z
      .array(
        z.object({
          step: z.string(),
          attempts: z.int(),
          next_attempt_at: timestamp.nullable(),
          last_error: z
            .object({ code: z.string(), message: z.string(), at: timestamp })
            .nullable()
            .meta({ description: 'Why the last attempt did not go through (a peer refused or failed); null for a CPE merely offline, or before a retry' }),
        }),
      )
      .meta({ description: 'Outside work accepted but not confirmed yet: an offline CPE, or a rolled-back update\'s block IPAM has not taken back' }),
    failure: failure.nullable().meta({ description: 'Set while the state is `failed`; `POST /retry` resumes from that step' }),
    last_error: failure.nullable().meta({ description: 'Why the last update was rolled back (the lifecycle stayed `active`), or why IPAM refused the allocation of a lifecycle it closed at once (`revoked`, `prefix` null)' }),
    in_progress: z.enum(IN_PROGRESS).nullable().meta({
      description:
        'The operation whose outside work is still running (`allocated` while an activation runs, `active` while an update or its rollback runs, also one resumed after a restart); null once the lifecycle has settled. A client that got a 202 polls `Location` until it is null; `pending` then lists what is left for later (an offline CPE)',
    }),
  })
  .meta({ id: 'Lifecycle' });

/** The lifecycle resource the API answers with. */
export type LifecycleResource = z.infer<typeof lifecycleResource>;
