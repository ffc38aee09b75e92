import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { z } from 'zod';
import { inProgress, readContext, toResource } from '../../runtime/projection.ts';
import { lifecycleResource } from '../../runtime/resource.ts';
import { lifecycleRow } from '../support/lifecycle-rows.ts';

const test = suite('runtime projection');

const failure = { step: 'netbox_allocate', code: 'upstream_unavailable', message: 'down', attempts: 6, at: '2026-01-02T00:00:00.000Z' };
const pending = [{ step: 'cpe_configure_pd', generation: 2, attempts: 3, next_attempt_at: '2026-01-03T00:00:00.000Z', task_id: 'task-9' }];

test('readContext(row) → the context of the stored snapshot', () => {
  const row = lifecycleRow({ id: 'a' }, { pending, failure, lastError: null });
  assert.equal(readContext(row), { pending, failure, lastError: null });
});

test('toResource(row) → the columns, with pending, failure and last_error from the snapshot, and nothing more', () => {
  const row = lifecycleRow(
    { id: 'a', subscriber_id: 'sub-1', state: 'failed', prefix: '2001:db8::/56', username: 'u@isp', cpe_id: 'cpe-1', netbox_prefix_id: 7, updated_at: '2026-01-04T00:00:00.000Z' },
    { pending, failure, lastError: { ...failure, step: 'radius_write_reply' }, username: 'not read from here' },
  );
  const resource = toResource(row);
  assert.equal(resource, {
    lifecycle_id: 'a',
    subscriber_id: 'sub-1',
    state: 'failed',
    prefix: '2001:db8::/56',
    prefix_length: 56,
    pool: 'residential',
    netbox_prefix_id: 7,
    username: 'u@isp',
    cpe_id: 'cpe-1',
    allocated_at: null,
    activated_at: null,
    // A snapshot from before reactivatedAt existed has none: null, not undefined.
    reactivated_at: null,
    suspended_at: null,
    revoked_at: null,
    updated_at: '2026-01-04T00:00:00.000Z',
    // The generation and the ACS task id are the runtime's business, not the API's.
    pending: [{ step: 'cpe_configure_pd', attempts: 3, next_attempt_at: '2026-01-03T00:00:00.000Z', last_error: null }],
    failure,
    last_error: { ...failure, step: 'radius_write_reply' },
    in_progress: null,
  });
  assert.ok(z.strictObject(lifecycleResource.shape).safeParse(resource).success, 'the resource is what its schema documents');
});

test('inProgress(snapshot) → the operation a busy state path belongs to', () => {
  const cases: [unknown, string | null][] = [
    ['pending', 'allocate'],
    [{ allocated: 'radius' }, 'activate'],
    [{ allocated: 'cpe' }, 'activate'],
    [{ active: 'suspendSessions' }, 'suspend'],
    [{ active: 'updateCpe' }, 'update'],
    [{ active: { updateRollback: 'restoreRadius' } }, 'update'],
    [{ suspended: 'reactivateRadius' }, 'reactivate'],
    [{ revoking: 'free' }, 'revoke'],
    [{ active: 'idle' }, null],
    ['failed', null],
  ];
  for (const [value, want] of cases) assert.is(inProgress({ value } as never), want, JSON.stringify(value));
});

test.run();
