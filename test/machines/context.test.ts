import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { initialContext } from '../../machines/context.ts';

const test = suite('machine context');

const input = { lifecycleId: 'lc-1', subscriberId: 'sub-1', pool: 'p', prefixLength: 56, ipam: 'embedded' as const };
const rest = {
  current: null, generation: 0, unconfirmed: [], next: null, nextRequest: null, retired: null, compensations: [], username: null, cpeId: null,
  allocatedAt: null, activatedAt: null, reactivatedAt: null, suspendedAt: null, revokedAt: null, failure: null, failedAt: null, lastError: null, pending: [], reason: null,
};

test('initialContext(input) → the input, then every other field at its start, in that order', () => {
  const ctx = initialContext(input);
  // The stored snapshot and the audit detail are written in key order: it is part of what is compared.
  assert.is(JSON.stringify(ctx), JSON.stringify({ ...input, ...rest }));
});

test('initialContext(input) of an input with its keys in another order, or another key, keeps them as given', () => {
  const reordered = { subscriberId: 'sub-1', lifecycleId: 'lc-1', pool: 'p', prefixLength: 56, ipam: 'embedded' as const };
  assert.is(JSON.stringify(initialContext(reordered)), JSON.stringify({ ...reordered, ...rest }));
  const extra = { ...input, note: 'x' };
  assert.is(JSON.stringify(initialContext(extra)), JSON.stringify({ ...extra, ...rest }));
});

test('initialContext(input) → lists of its own, never shared with another lifecycle', () => {
  const a = initialContext(input);
  const b = initialContext(input);
  assert.is.not(a.pending, b.pending);
  assert.is.not(a.unconfirmed, b.unconfirmed);
  assert.is.not(a.compensations, b.compensations);
});

test.run();
