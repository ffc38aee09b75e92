// A pending step retried in vain showed only its attempts: a NetBox refusing a rolled-back update's
// give-back (a token without the right, 403) was retried at the back-off cap for good with nothing in
// the API to say why. Each pending entry now carries `last_error` (code, message, at) of its last
// failed attempt, cleared once it goes through; the OpenAPI document describes it.
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { peerAvailable } from '../support/freeradius.ts';
import { startRig, type Rig } from '../review12/update-rig.ts';

const NAME = 'review13: a pending step says why its last attempt failed';
if (peerAvailable(NAME)) {
  const test = suite(NAME);
  let r: Rig;
  test.before(async () => {
    r = await startRig(['refused'], { tiny: false });
  });
  test.after(() => r.close());
  const lifecycle = async () => (await r.call('GET', 'lifecycle/refused')).body;
  const until = async (what: string, ok: (l: any) => boolean) => {
    for (let i = 0; i < 100; i++) {
      const l = await lifecycle();
      if (ok(l)) return l;
      await new Promise((res) => setTimeout(res, 100));
    }
    assert.unreachable(`${what}: ${JSON.stringify(await lifecycle())}`);
  };

  test('NetBox refusing the give-back (403) → the pending entry names the refusal; NetBox granting it → gone', async () => {
    const old = await r.activeSubscriber('refused');
    r.netbox.loseAnswers(1, { method: 'POST' });
    const before = r.netbox.created;
    const watch = setInterval(() => {
      if (r.netbox.created > before) r.netbox.setDown(true), clearInterval(watch);
    }, 1);
    const got = await r.call('POST', 'update', { subscriber_id: 'refused' });
    clearInterval(watch);
    assert.is(got.status, 502, JSON.stringify(got.body));
    const fresh = await lifecycle();
    assert.equal(fresh.pending.map((p: any) => [p.step, p.last_error]), [['netbox_release', null]], 'no attempt of the pending step yet');
    r.netbox.setDown(false);
    r.netbox.failNext(1000, { method: 'PATCH', status: 403 });
    const refused = await until('the refusal shown', (l) => l.pending[0]?.last_error !== null && l.pending[0]?.attempts >= 2);
    const e = refused.pending[0].last_error;
    assert.equal([refused.state, refused.prefix, refused.failure], ['active', old, null]);
    assert.is.not(e.code, 'internal', JSON.stringify(e));
    assert.match(e.message, /403/);
    assert.ok(Date.parse(e.at) > Date.parse(fresh.updated_at) - 1000, e.at);
    assert.not.match(e.message, /Bearer|nbt_/, `no secret in the message: ${e.message}`);
    r.netbox.clearFaults();
    const done = await until('the give-back done', (l) => l.pending.length === 0);
    assert.equal([done.state, done.prefix], ['active', old]);
    const spec = await (await fetch(`${r.svc.origin}/openapi.json`)).json();
    const pending = JSON.stringify(spec?.components?.schemas?.Lifecycle?.properties?.pending ?? spec);
    assert.match(pending, /last_error/, 'the OpenAPI document describes it');
  });

  test.run();
}
