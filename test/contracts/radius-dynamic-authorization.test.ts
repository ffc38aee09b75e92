import { createSocket } from 'node:dgram';
import pino from 'pino';
import { radiusConfigSchema } from '../../services/radius/config.ts';
import { createDynamicAuthorization } from '../../services/radius/dynamic-authorization.ts';
import { FakeDynamicAuthorization } from '../../services/radius/fake.ts';
import { peerAvailable, startFreeRadius } from '../support/freeradius.ts';
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
if (peerAvailable('DynamicAuthorizationPort contract: FreeRADIUS')) {
  dynauthContract('FreeRADIUS stand-in NAS', async () => {
    const peer = await startFreeRadius();
    const dead = createSocket('udp4');
    await new Promise<void>((r) => dead.bind(0, '127.0.0.1', () => r()));
    const deadPort = dead.address().port;
    dead.close();
    const cfg = radiusConfigSchema.parse({
      sql: { path: peer.dbPath },
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
    const da = createDynamicAuthorization(cfg, pino({ level: 'silent' }), { env: { TEST_COA_SECRET: peer.secret } });
    const nasAddress = { answering: '127.0.0.1', silent: '127.0.0.2' };
    return {
      port: da,
      openSession: (s) => accounting(peer.host, peer.ports.acct, peer.secret, { status: 'Start', username: s.username, sessionId: s.sessionId, nasIp: nasAddress[s.nas] }),
      nasAddress,
      silentAttempts: 3,
      close: async () => {
        da.close();
        await peer.stop();
      },
    };
  });
}
