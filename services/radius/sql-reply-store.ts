// RadiusReplyPort over FreeRADIUS's `radreply` in PostgreSQL or MySQL/MariaDB. Each write is one
// transaction that locks the user's rows of our attributes (SELECT … FOR UPDATE), then deletes and
// inserts only what differs: a repeat changes nothing (ids included), a FreeRADIUS server reading
// meanwhile sees the old rows or the new ones, and no other attribute or user is touched. A lost
// connection, a deadlock or a serialization failure is a retryable ServiceError; the write is then
// redone whole, which is safe since it converges.
import type { Logger } from 'pino';
import { LoggedReplyPort } from './logged-reply-port.ts';
import type { WriteReplyCommand } from './port.ts';
import { desiredReply, managedAttributes, REPLY_OP, type FramedPrefixMode, type ReplyRow } from './reply-attributes.ts';
import type { Queryable, SqlClient } from './sql-client.ts';

/** RadiusReplyPort on a `radreply` table in a PostgreSQL or MySQL/MariaDB server. */
export class SqlReplyStore extends LoggedReplyPort {
  private readonly managed: string[];
  private readonly inList: string;
  // FreeRADIUS's dictionary takes an attribute name in any case, so does every match here.
  private readonly lowered: string[];

  constructor(
    private readonly client: SqlClient,
    opts: { framedPrefix: FramedPrefixMode; log: Logger },
  ) {
    super(opts);
    this.managed = managedAttributes(opts.framedPrefix);
    this.lowered = this.managed.map((a) => a.toLowerCase());
    this.inList = this.managed.map(() => '?').join(', ');
  }

  /** How many attributes changed. */
  async write(cmd: WriteReplyCommand, signal?: AbortSignal): Promise<number> {
    const desired = desiredReply(cmd, this.opts.framedPrefix);
    signal?.throwIfAborted();
    try {
      return await this.client.transaction(async (q) => {
        const { rows } = await q.query<ReplyRow>(
          `SELECT id, username, attribute, op, value FROM radreply WHERE username = ? AND lower(attribute) IN (${this.inList}) ORDER BY id FOR UPDATE`,
          [cmd.username, ...this.lowered],
        );
        let n = 0;
        for (const attribute of this.managed) {
          // MySQL's collation compares case-insensitively, as FreeRADIUS's own lookup there does.
          const mine = rows.filter((r) => r.attribute.toLowerCase() === attribute.toLowerCase());
          n += await this.converge(q, cmd.username, attribute, mine, desired.get(attribute) ?? null);
        }
        signal?.throwIfAborted();
        return n;
      });
    } catch (err) {
      if (signal?.aborted && err === signal.reason) throw err;
      throw this.client.failure(err, 'radreply write');
    }
  }

  /** How many rows went. */
  async remove(username: string, signal?: AbortSignal): Promise<number> {
    signal?.throwIfAborted();
    try {
      const r = await this.client.query(`DELETE FROM radreply WHERE username = ? AND lower(attribute) IN (${this.inList})`, [username, ...this.lowered]);
      return r.affected;
    } catch (err) {
      throw this.client.failure(err, 'radreply remove');
    }
  }

  /** Ends the pool; never rejects (compose's shutdown does not wait for it). */
  close(): Promise<void> {
    return this.client.close().catch(() => undefined);
  }

  private async converge(q: Queryable, username: string, attribute: string, mine: ReplyRow[], value: string | null): Promise<number> {
    const drop = async () => {
      if (mine.length === 0) return 0;
      return (await q.query(`DELETE FROM radreply WHERE id IN (${mine.map(() => '?').join(', ')})`, mine.map((r) => r.id))).affected;
    };
    if (value === null) return drop();
    const only = mine.length === 1 ? mine[0]! : null;
    if (only && only.op === REPLY_OP && only.value === value && only.attribute === attribute) return 0;
    // Duplicates or a different op/value: one row per attribute is what `:=` means.
    await drop();
    await q.query('INSERT INTO radreply (username, attribute, op, value) VALUES (?, ?, ?, ?)', [username, attribute, REPLY_OP, value]);
    return 1;
  }
}
