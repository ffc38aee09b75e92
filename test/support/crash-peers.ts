// Durable stand-ins for the CPE (GenieACS) and the NAS side of RADIUS, for the crash test: their
// state lives in a SQLite file of its own, so the run after a SIGKILL sees what the killed run did,
// as a real ACS would remember a device's configuration. Also keeps the log of every outside call,
// and notes each moment one prefix was delegated to two subscribers (two CPEs, two radreply users).
import Database from 'better-sqlite3';
import type { CpePort } from '../../services/genieacs/port.ts';
import type { DynamicAuthorizationPort } from '../../services/radius/port.ts';

/** One outside call as the probe saw it complete. */
export interface CallRow {
  seq: number;
  /** `scenario-0`, `recover-1`, ...: the run that made the call. */
  run: string;
  port: string;
  key: string;
  lifecycle_id: string | null;
  /** Path of the stored snapshot when the call was made. */
  state: string | null;
  /** Set when the stored snapshot was not the step that makes this call. */
  problem: string | null;
}

export interface CpeRow {
  cpe_id: string;
  prefix: string | null;
  key: string;
}

/** A prefix given to `holder` while `other` still had it: `cpe <id>` or `radreply <username>`. */
export interface OverlapRow {
  run: string;
  prefix: string;
  holder: string;
  other: string;
}

export interface Peers {
  cpe: CpePort;
  sessions: DynamicAuthorizationPort;
  record(call: Omit<CallRow, 'seq' | 'run'>): void;
  /** Notes the radreply users other than `username` that delegate `prefix` right now. */
  checkRadreply(username: string, prefix: string): void;
  close(): void;
}

const SCHEMA = `
  CREATE TABLE IF NOT EXISTS cpe (cpe_id TEXT PRIMARY KEY, prefix TEXT, key TEXT NOT NULL);
  CREATE TABLE IF NOT EXISTS calls (
    seq INTEGER PRIMARY KEY AUTOINCREMENT, run TEXT NOT NULL, port TEXT NOT NULL, key TEXT NOT NULL,
    lifecycle_id TEXT, state TEXT, problem TEXT
  );
  CREATE TABLE IF NOT EXISTS overlaps (run TEXT NOT NULL, prefix TEXT NOT NULL, holder TEXT NOT NULL, other TEXT NOT NULL);`;

export function openPeers(file: string, radiusFile: string, run: string): Peers {
  const db = new Database(file);
  db.pragma('journal_mode = WAL');
  db.exec(SCHEMA);
  // A second connection to FreeRADIUS's file, as FreeRADIUS itself would read it.
  const radius = new Database(radiusFile, { readonly: true, fileMustExist: true });
  const upsertCpe = db.prepare<CpeRow>(
    'INSERT INTO cpe (cpe_id, prefix, key) VALUES (@cpe_id, @prefix, @key) ON CONFLICT (cpe_id) DO UPDATE SET prefix = excluded.prefix, key = excluded.key',
  );
  const otherCpesWithPrefix = db.prepare<{ prefix: string; cpe_id: string }, { cpe_id: string }>(
    'SELECT cpe_id FROM cpe WHERE prefix = @prefix AND cpe_id <> @cpe_id',
  );
  const otherUsersWithPrefix = radius.prepare<{ prefix: string; username: string }, { username: string }>(
    `SELECT DISTINCT username FROM radreply WHERE attribute = 'Delegated-IPv6-Prefix' AND value = @prefix AND username <> @username`,
  );
  const insertOverlap = db.prepare<OverlapRow>('INSERT INTO overlaps (run, prefix, holder, other) VALUES (@run, @prefix, @holder, @other)');
  const insertCall = db.prepare(
    'INSERT INTO calls (run, port, key, lifecycle_id, state, problem) VALUES (@run, @port, @key, @lifecycle_id, @state, @problem)',
  );
  // Setting the device's parameter is the whole effect, so a repeated command converges on its own.
  const setPrefix = (cpeId: string, prefix: string | null, key: string, signal?: AbortSignal) => {
    signal?.throwIfAborted();
    if (prefix) {
      for (const o of otherCpesWithPrefix.all({ prefix, cpe_id: cpeId })) insertOverlap.run({ run, prefix, holder: `cpe ${cpeId}`, other: `cpe ${o.cpe_id}` });
    }
    upsertCpe.run({ cpe_id: cpeId, prefix, key });
    return Promise.resolve({ status: 'done' as const });
  };
  return {
    cpe: {
      configurePd: (cmd, signal) => setPrefix(cmd.cpeId, cmd.prefix, cmd.key, signal),
      removeIpv6: (cmd, signal) => setPrefix(cmd.cpeId, null, cmd.key, signal),
    },
    // No session is open in radacct, so there is no NAS to tell; the call still goes through the probe.
    sessions: { notifySessions: (_cmd, signal) => (signal?.throwIfAborted(), Promise.resolve([])) },
    record: (call) => void insertCall.run({ run, ...call }),
    checkRadreply(username, prefix) {
      for (const o of otherUsersWithPrefix.all({ prefix, username })) insertOverlap.run({ run, prefix, holder: `radreply ${username}`, other: `radreply ${o.username}` });
    },
    close() {
      radius.close();
      db.close();
    },
  };
}

/** Read side for the parent test. */
export function readPeers(file: string): { cpe: CpeRow[]; calls: CallRow[]; overlaps: OverlapRow[] } {
  const db = new Database(file, { fileMustExist: true });
  try {
    return {
      cpe: db.prepare<[], CpeRow>('SELECT cpe_id, prefix, key FROM cpe ORDER BY cpe_id').all(),
      calls: db.prepare<[], CallRow>('SELECT * FROM calls ORDER BY seq').all(),
      overlaps: db.prepare<[], OverlapRow>('SELECT * FROM overlaps').all(),
    };
  } finally {
    db.close();
  }
}
