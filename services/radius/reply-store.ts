// RadiusReplyPort over FreeRADIUS's standard `radreply` table (rlm_sql). Each write is a
// lookup-then-change inside one IMMEDIATE transaction, so a repeat changes nothing and a
// concurrent FreeRADIUS read sees either the old rows or the new ones.
import type { Logger } from 'pino';
import type { RadiusConfig } from './config.ts';
import type { RadiusReplyPort, WriteReplyCommand } from './port.ts';
import { desiredReply, managedAttributes, REPLY_OP, type FramedPrefixMode, type ReplyRow } from './reply-attributes.ts';
import { openRadiusSqlite, sqliteFailure, type RadiusDb } from './sqlite.ts';

/** RadiusReplyPort on a `radreply` table in SQLite. */
export class SqliteReplyStore implements RadiusReplyPort {
  private readonly managed: string[];
  private readonly selectUserAttributeRows;
  private readonly deleteUserAttribute;
  private readonly insertReplyRow;

  constructor(
    private readonly db: RadiusDb,
    private readonly opts: { framedPrefix: FramedPrefixMode; log: Logger },
  ) {
    this.managed = managedAttributes(opts.framedPrefix);
    this.selectUserAttributeRows = db.prepare<{ username: string; attribute: string }, ReplyRow>(
      'SELECT id, username, attribute, op, value FROM radreply WHERE username = @username AND attribute = @attribute ORDER BY id',
    );
    this.deleteUserAttribute = db.prepare<{ username: string; attribute: string }>(
      'DELETE FROM radreply WHERE username = @username AND attribute = @attribute',
    );
    this.insertReplyRow = db.prepare<{ username: string; attribute: string; op: string; value: string }>(
      'INSERT INTO radreply (username, attribute, op, value) VALUES (@username, @attribute, @op, @value)',
    );
  }

  /** Writes (or replaces) the user's prefix attributes; a repeat is a no-op. */
  async writeReply(cmd: WriteReplyCommand, signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    const desired = desiredReply(cmd, this.opts.framedPrefix);
    const changed = this.run('radreply write', () => {
      let n = 0;
      for (const attribute of this.managed) n += this.converge(cmd.username, attribute, desired.get(attribute) ?? null);
      return n;
    });
    this.opts.log.info(
      { username: cmd.username, attributes: Object.fromEntries(desired), changed },
      changed > 0 ? 'radreply written' : 'radreply already current',
    );
  }

  /** Removes the user's prefix attributes; absent rows are success. */
  async removeReply(cmd: { username: string }, signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    const changed = this.run('radreply remove', () => {
      let n = 0;
      for (const attribute of this.managed) n += this.deleteUserAttribute.run({ username: cmd.username, attribute }).changes;
      return n;
    });
    this.opts.log.info({ username: cmd.username, changed }, changed > 0 ? 'radreply removed' : 'radreply already absent');
  }

  /** Closes the connection (the composition root calls it on shutdown). */
  close(): void {
    this.db.close();
  }

  private converge(username: string, attribute: string, value: string | null): number {
    const rows = this.selectUserAttributeRows.all({ username, attribute });
    if (value === null) return rows.length === 0 ? 0 : this.deleteUserAttribute.run({ username, attribute }).changes;
    const only = rows.length === 1 ? rows[0]! : null;
    if (only && only.op === REPLY_OP && only.value === value) return 0;
    // Duplicates or a different op/value: one row per attribute is what `:=` means.
    this.deleteUserAttribute.run({ username, attribute });
    this.insertReplyRow.run({ username, attribute, op: REPLY_OP, value });
    return 1;
  }

  private run<T>(what: string, body: () => T): T {
    try {
      // IMMEDIATE takes the write lock up front: a deferred read-then-write can deadlock with
      // FreeRADIUS's connection and skip the busy handler (SQLite "lock upgrade" rule).
      return this.db.transaction(body).immediate();
    } catch (err) {
      throw sqliteFailure(err, what);
    }
  }
}

/** Opens the configured backend (SQLite today) and returns the reply port; `close()` on shutdown. */
export function createRadiusReplyStore(config: RadiusConfig, log: Logger): SqliteReplyStore {
  const child = log.child({ component: 'radius-reply' });
  return new SqliteReplyStore(openRadiusSqlite(config.sql, child), { framedPrefix: config.reply.framed_prefix, log: child });
}
