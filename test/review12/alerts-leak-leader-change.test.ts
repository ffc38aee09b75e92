// Review 12: Ipv6PrefixLeaked is `increase(ipv6_prefix_leak_total[30m]) > 0`. With several
// instances on PostgreSQL only the leader reported the stored leak total, the others 0: a new
// leader's series jumped 0 → N, and increase() read N new leaks for 30 minutes after every change
// of leader (a kill, a restart, a dropped connection). The total is stored, the same for every
// instance, so every instance now reports it: a change of leader moves nothing, and the rule takes
// max by job. Shown with two instances on a throw-away PostgreSQL, the leader SIGKILLed.
import pg from 'pg';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startRig, type Rig } from '../support/instances-config.ts';
import { eventually, type Instance } from '../support/instances.ts';
import { postgresAvailable } from '../support/postgres.ts';

const metricsOf = async (i: Instance) => await (await fetch(`${i.origin}/metrics`)).text();
const sample = (text: string, name: string) => Number(new RegExp(`^${name} (\\S+)$`, 'm').exec(text)?.[1]);

if (postgresAvailable('review12 alerts leak leader change')) {
  const test = suite<{ rig: Rig }>('review12: a change of leader does not move ipv6_prefix_leak_total', {} as { rig: Rig });

  test.before(async (ctx) => {
    ctx.rig = await startRig(2, 'leak_leader');
  });
  test.after(async (ctx) => {
    await ctx.rig?.close();
  });

  test('two instances report the stored total; the leader killed, the other leads and still reports it, never 0', async ({ rig }) => {
    const db = new pg.Pool({ connectionString: rig.url, max: 1 });
    try {
      // One leak counted before (the trigger of migration 002 counts a row stored as counted).
      await db.query("INSERT INTO prefix_leaks (lifecycle_id, prefix, pool, first_seen_at, counted_at) VALUES ('l-1', '2001:db8:1::/56', 'residential', 't0', 't1')");
    } finally {
      await db.end();
    }
    const [a, b] = rig.fleet.instances as [Instance, Instance];
    const leader = await eventually('one leader', 10_000, async () => {
      const [ta, tb] = await Promise.all([metricsOf(a), metricsOf(b)]);
      const leads = [a, b].filter((_, k) => sample(k === 0 ? ta : tb, 'ipv6_instance_leader') === 1);
      return leads.length === 1 ? leads[0] : undefined;
    });
    const other = leader === a ? b : a;
    const before = await metricsOf(other);
    assert.is(sample(before, 'ipv6_instance_leader'), 0, 'a follower');
    assert.is(sample(before, 'ipv6_prefix_leak_total'), 1, 'the follower reports the stored total');
    assert.is(sample(await metricsOf(leader), 'ipv6_prefix_leak_total'), 1);
    await leader.kill();
    const seen: number[] = [];
    await eventually('the other instance leads', 15_000, async () => {
      const text = await metricsOf(other);
      seen.push(sample(text, 'ipv6_prefix_leak_total'));
      return sample(text, 'ipv6_instance_leader') === 1 || undefined;
    });
    assert.ok(seen.length > 1, 'sampled through the take-over');
    assert.equal([...new Set(seen)], [1], 'the total never moved while the leader changed');
  });

  test.run();
}
