// review13: since ac9af4b `pending` holds IPAM work too (a rolled-back update's block NetBox did not
// take back: a `netbox_release` step), and ipv6_lifecycle_pending_lifecycles counts every lifecycle
// with a pending step (next_pending_at). Its HELP, the alert on it and the README still said a CPE
// step only, so an operator paged by Ipv6PendingCpeGrowing during a NetBox incident looked at the ACS.
// The names stay (dashboards, routes and silences use them); what they say now covers both.
import { readFileSync } from 'node:fs';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';

const test = suite('review13: the pending gauge and its alert say what they count');
const read = (p: string) => readFileSync(new URL(`../../${p}`, import.meta.url), 'utf8');

test('the gauge HELP, the alert summary, the README rows and the dashboard panel name IPAM give-backs too', () => {
  const help = /name: 'ipv6_lifecycle_pending_lifecycles',\s*help: '([^']*)'/.exec(read('runtime/metrics.ts'))?.[1] ?? '';
  const rules = read('alerts/ipv6-lifecycle.rules.yml');
  const alert = rules.slice(rules.indexOf('alert: Ipv6PendingCpeGrowing'));
  const summary = /summary: "([^"]*)"/.exec(alert)?.[1] ?? '';
  const readme = read('README.md').split('\n');
  const rows = readme.filter((l) => l.startsWith('| `ipv6_lifecycle_pending_lifecycles`') || l.startsWith('| `Ipv6PendingCpeGrowing`'));
  const panel = /"title": "(Pending[^"]*)"/.exec(read('dashboards/ipv6-lifecycle.json'))?.[1] ?? '';
  assert.is(rows.length, 2);
  for (const [what, text] of [['help', help], ['summary', summary], ['metric row', rows[0]!], ['alert row', rows[1]!], ['panel', panel]] as const) {
    assert.match(text, /IPAM/, `${what} names the IPAM give-back: ${text}`);
  }
});

test.run();
