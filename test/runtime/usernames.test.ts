import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { UsernameClaims } from '../../runtime/usernames.ts';
import { ServiceError } from '../../services/errors.ts';

const test = suite('runtime: username claims between the check and the commit');

/** A store whose reads take a while (PostgreSQL's round trip) and which has no holder yet on disk. */
const slowEmptyStore = (onDisk = new Map<string, string>()) => ({
  usernameHolder: async (username: string, except: string) => {
    await new Promise((r) => setTimeout(r, 5));
    const h = onDisk.get(username);
    return h !== undefined && h !== except ? h : null;
  },
});

const refusal = async (p: Promise<unknown>) => {
  try {
    await p;
    return null;
  } catch (err) {
    assert.instance(err, ServiceError);
    return err as ServiceError;
  }
};

test('two activations of different subscribers read the store at once: the second is refused, naming the first', async () => {
  const claims = new UsernameClaims(slowEmptyStore());
  const [a, b] = await Promise.all([refusal(claims.take('u', 'sub-a')), refusal(claims.take('u', 'sub-b'))]);
  assert.is(a, null);
  assert.is(b?.code, 'username_in_use');
  assert.is(b?.field, 'username');
  assert.match(b!.message, /subscriber sub-a\b/);
});

test('released, the claim no longer refuses; the same subscriber is never refused its own claim', async () => {
  const claims = new UsernameClaims(slowEmptyStore());
  const release = await claims.take('u', 'sub-a');
  assert.is(await refusal(claims.take('u', 'sub-a')), null);
  release();
  assert.is(await refusal(claims.take('u', 'sub-b')), null);
});

test('what the store has on disk refuses without any claim', async () => {
  const claims = new UsernameClaims(slowEmptyStore(new Map([['u', 'sub-old']])));
  assert.match((await refusal(claims.take('u', 'sub-new')))!.message, /subscriber sub-old\b/);
  assert.is(await refusal(claims.take('u', 'sub-old')), null);
});

test("folded (MySQL's collation): two activations at once spelling one user differently are one claim", async () => {
  const claims = new UsernameClaims(slowEmptyStore(), { folded: true });
  const [a, b] = await Promise.all([refusal(claims.take('Bob', 'sub-a')), refusal(claims.take('bob ', 'sub-b'))]);
  assert.is(a, null);
  assert.is(b?.code, 'username_in_use');
  const exact = new UsernameClaims(slowEmptyStore());
  assert.equal(await Promise.all([refusal(exact.take('Bob', 'sub-a')), refusal(exact.take('bob ', 'sub-b'))]), [null, null]);
});

test.run();
