// Review 7 (held): secrets stay secret when peers misbehave. An ACS that answers 400 echoing the
// request's Authorization (basic auth from genieacs.username_env / password_env) in its body, a NAS
// that never answers a Disconnect (its secret from default_secret_env), a client sending a wrong
// bearer token. API.md: "a 5xx never carries internal details"; README: "Tokens and secrets never
// reach a log line"; docs/api.md: the peer's body goes to the warn line as `detail`, "secrets redacted".
import Database from 'better-sqlite3';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import { startService, TOKEN, type Service } from './support.ts';

const SCHEMA = '/etc/freeradius/3.0/mods-config/sql/main/sqlite/schema.sql';
const SECRETS = { ACS_USER: 'acs-operator', ACS_PASSWORD: 'acs-Pa55-word-42', COA_SECRET: 'coa-Secret-9876' };
const test = suite('review7 (held): secrets in logs, error bodies, the trail and /metrics');
let svc: Service;
let acs: Server;

test.before(async () => {
  acs = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.writeHead(400, { 'content-type': 'application/json' });
      res.end(JSON.stringify({ error: `bad request from ${req.headers.authorization}`, authorization: req.headers.authorization }));
    });
  });
  await new Promise<void>((resolve) => acs.listen(0, '127.0.0.1', resolve));
  const acsUrl = `http://127.0.0.1:${(acs.address() as AddressInfo).port}`;
  svc = await startService(
    (dir) => ({
      pools: [{ name: 'residential', prefix: '2001:db8::/40', prefix_length: 56 }],
      genieacs: { url: acsUrl, username_env: 'ACS_USER', password_env: 'ACS_PASSWORD' },
      radius: {
        sql: { path: join(dir, 'radius.sqlite'), create_schema: true, schema_file: SCHEMA },
        // Port 9 (discard): nothing answers there.
        dynamic_authorization: { default_secret_env: 'COA_SECRET', timeout_ms: 50, retries: 0, nas: [{ address: '127.0.0.1', port: 9 }] },
      },
    }),
    { env: SECRETS },
  );
});
test.after(async () => {
  await svc.close();
  acs.closeAllConnections();
  await new Promise<void>((resolve) => acs.close(() => resolve()));
});

const basic = Buffer.from(`${SECRETS.ACS_USER}:${SECRETS.ACS_PASSWORD}`).toString('base64');
const leaked = (text: string) => [SECRETS.ACS_PASSWORD, basic, SECRETS.COA_SECRET, TOKEN, 'review7-wrong-token-0123456789'].filter((s) => text.includes(s));

test('an ACS echoing the basic auth, a silent NAS and a wrong token: no secret in any answer, log line, event or /metrics', async () => {
  const answers: string[] = [];
  const keep = async (p: Promise<{ text: string; status: number }>) => {
    const r = await p;
    answers.push(r.text);
    return r;
  };
  assert.is((await keep(svc.post('allocate', { subscriber_id: 'sec-1' }))).status, 201);
  const act = await keep(svc.post('activate', { subscriber_id: 'sec-1', username: 'sec-1@isp.example', cpe_id: 'CPE-SEC-1' }));
  assert.is(act.status, 409, act.text); // the ACS's 400 fails the activation for good (review11/failed-deterministic)
  assert.is((await keep(svc.get('lifecycle/sec-1'))).text.includes('"failed"'), true);
  // Activated without a CPE, with an open session in radacct for the suspension's Disconnect.
  assert.is((await keep(svc.post('allocate', { subscriber_id: 'sec-2' }))).status, 201);
  assert.is((await keep(svc.post('activate', { subscriber_id: 'sec-2', username: 'sec-2@isp.example' }))).status, 200);
  const radius = new Database(join(svc.dir, 'radius.sqlite'));
  radius
    .prepare("INSERT INTO radacct (acctsessionid, acctuniqueid, username, nasipaddress, acctstarttime) VALUES ('S2', 'u-s2', 'sec-2@isp.example', '127.0.0.1', datetime('now'))")
    .run();
  radius.close();
  const suspended = await keep(svc.post('suspend', { subscriber_id: 'sec-2' }));
  assert.is(suspended.status, 200, suspended.text);
  await keep(svc.get('lifecycle/sec-1/events'));
  await keep(svc.get('lifecycle/sec-2/events'));
  const wrong = await fetch(`${svc.origin}/api/v1/network/ipv6/metrics`, { headers: { authorization: 'Bearer review7-wrong-token-0123456789' } });
  assert.is(wrong.status, 401);
  answers.push(await wrong.text());
  const exposition = (await svc.get('/metrics')).text;
  assert.match(exposition, /result="no_answer"/, 'the Disconnect was sent and unanswered');
  assert.ok(svc.logs.some((l) => l.includes('[redacted]')), 'the ACS body reached a warn line, redacted');
  assert.equal(leaked(answers.join('\n')), [], 'answers');
  assert.equal(leaked(svc.logs.join('\n')), [], 'log lines');
  assert.equal(leaked(exposition), [], '/metrics');
});

test.run();
