// Review 10 (review of 42d6f91): the invisible-character check left out the characters that show as
// nothing outside the few it named: the tag characters U+E0000–U+E007F (the "ASCII smuggling"
// set: "sub-42" + U+E0041 shows as "sub-42"), the Hangul fillers U+115F, U+1160, U+3164, U+FFA0,
// the combining grapheme joiner U+034F, the Khmer vowels inherent U+17B4/U+17B5 and the Mongolian
// free variation selectors U+180B–U+180D, U+180F. Each made a second subscriber alike to the first.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startService, type Service } from '../review7/support.ts';

const test = suite('review10: every character that shows as nothing is refused in a new name');
let svc: Service;

test.before(async () => {
  svc = await startService(() => ({}));
});
test.after(async () => svc.close());

const INVISIBLE = ['\u{e0041}', '\u{e0001}', '\u{e007f}', '\u115f', '\u1160', '\u3164', '\uffa0', '\u034f', '\u17b4', '\u17b5', '\u180b', '\u180f'];

test('POST /allocate with each in subscriber_id → 400 naming it, nothing allocated', async () => {
  assert.is((await svc.post('allocate', { subscriber_id: 'sub-42' })).status, 201);
  for (const ch of INVISIBLE) {
    const id = `sub-42${ch}`;
    const r = await svc.post('allocate', { subscriber_id: id });
    assert.is(r.status, 400, `U+${ch.codePointAt(0)!.toString(16)}: ${r.status}`);
    assert.is(r.body.error.field, 'subscriber_id');
    assert.match(r.body.error.message, /invisible/);
  }
  assert.is((await svc.get('metrics')).body.states.allocated, 1);
});

test('POST /activate with each in username → 400 naming it', async () => {
  for (const ch of INVISIBLE) {
    const r = await svc.post('activate', { subscriber_id: 'sub-42', username: `alice${ch}@example.net` });
    assert.is(r.status, 400, `U+${ch.codePointAt(0)!.toString(16)}: ${r.status}`);
    assert.is(r.body.error.field, 'username');
  }
  assert.is((await svc.get('lifecycle/sub-42')).body.state, 'allocated');
});

test('names people type still pass: emoji with a variation selector, flags, Hangul, a ZWJ-free family', async () => {
  for (const id of ['x\u2764\ufe0f', '\u{1f1e9}\u{1f1ea}', '한국-1', '\u{1f3f4}']) assert.is((await svc.post('allocate', { subscriber_id: id })).status, 201, id);
});

test.run();
