import { createSocket } from 'node:dgram';
import pino from 'pino';
import { radiusConfigSchema } from '../../services/radius/config.ts';
import { createDynamicAuthorization } from '../../services/radius/dynamic-authorization.ts';
import { FakeDynamicAuthorization } from '../../services/radius/fake.ts';
import { peerAvailable, startFreeRadius, type SqlServer } from '../support/freeradius.ts';
import { mariadbAvailable, mariadbForFreeRadius } from '../support/mariadb.ts';
import { postgresForFreeRadius, radiusPostgresAvailable } from '../support/radius-postgres.ts';
import { accounting } from '../support/radius-client.ts';
import { dynauthContract } from '../support/radius-dynauth-contract.ts';

dynauthContract('fake', async () => {
  const fake = new FakeDynamicAuthorization({ action: 'coa' });
  const nasAddress = { answering: '192.0.2.1', silent: '192.0.2.2' };
  fake.answer = (req) =>
    req.nas === nasAddress.silent ? { kind: 'no_answer' } : req.username.startsWith('nak-') ? { kind: 'nak', errorCause: 503 } : { kind: 'ack' };
  return {
    port: fake,
    openSession: async (s) => fake.openSession({ username: s.username, sessionId: s.sessionId, nas: nasAddress[s.nas] }),
    nasAddress,
    silentAttempts: fake.noAnswerAttempts,
    close: () => undefined,
  };
});

// The real client, reading radacct rows that FreeRADIUS wrote, talking to FreeRADIUS's coa-nas
// virtual server (ACK, or NAK 503 for nak-* users). 127.0.0.2 is a NAS whose CoA port is dead.
// Also with FreeRADIUS accounting into a SQL server through rlm_sql_<dialect>, read back from there.
function againstFreeRadius(name: string, sqlServer?: () => Promise<SqlServer>): void {
  dynauthContract(name, async () => {
    const peer = await startFreeRadius({ sql: sqlServer ? await sqlServer() : undefined });
    const dead = createSocket('udp4');
    await new Promise<void>((r) => dead.bind(0, '127.0.0.1', () => r()));
    const deadPort = dead.address().port;
    dead.close();
    const cfg = radiusConfigSchema.parse({
      sql: peer.sqlConfig,
      dynamic_authorization: {
        action: 'coa',
        timeout_ms: 50,
        retries: 2,
        default_secret_env: 'TEST_COA_SECRET',
        nas: [
          { address: '127.0.0.1', port: peer.ports.coa },
          { address: '127.0.0.2', port: deadPort },
        ],
      },
    });
    const da = createDynamicAuthorization(cfg, pino({ level: 'silent' }), { env: { TEST_COA_SECRET: peer.secret, ...peer.env } });
    const nasAddress = { answering: '127.0.0.1', silent: '127.0.0.2' };
    return {
      port: da,
      openSession: (s) => accounting(peer.host, peer.ports.acct, peer.secret, { status: 'Start', username: s.username, sessionId: s.sessionId, nasIp: nasAddress[s.nas] }),
      nasAddress,
      silentAttempts: 3,
      close: async () => {
        await da.close();
        await peer.stop();
      },
    };
  });
}

if (peerAvailable('DynamicAuthorizationPort contract: FreeRADIUS')) againstFreeRadius('FreeRADIUS stand-in NAS');
if (peerAvailable('DynamicAuthorizationPort contract: FreeRADIUS on MariaDB') && mariadbAvailable('DynamicAuthorizationPort contract: FreeRADIUS on MariaDB')) {
  againstFreeRadius('FreeRADIUS stand-in NAS, accounting in MariaDB (rlm_sql_mysql)', mariadbForFreeRadius);
}
if (peerAvailable('DynamicAuthorizationPort contract: FreeRADIUS on PostgreSQL') && radiusPostgresAvailable('DynamicAuthorizationPort contract: FreeRADIUS on PostgreSQL')) {
  againstFreeRadius('FreeRADIUS stand-in NAS, accounting in PostgreSQL (rlm_sql_postgresql)', postgresForFreeRadius);
}
