// RadiusReplyPort over FreeRADIUS's standard `radreply` table (rlm_sql). Each write is a
// lookup-then-change, so a repeat changes nothing; a concurrent FreeRADIUS read sees either the old
// rows or the new ones. The writes of one event-loop turn share one IMMEDIATE transaction (each in
// its own savepoint): FreeRADIUS's file keeps its own journal mode, by default DELETE with
// synchronous=FULL, so every commit costs several fsyncs on the event loop, once per turn instead
// of once per write. A call resolves only after the commit that holds its write.
import type { Logger } from 'pino';
import { sqliteSettings, type RadiusConfig } from './config.ts';
import { LoggedReplyPort } from './logged-reply-port.ts';
import type { WriteReplyCommand } from './port.ts';
import { desiredReply, managedAttributes, REPLY_OP, type FramedPrefixMode, type ReplyRow } from './reply-attributes.ts';
import { openRadiusSqlite, sqliteFailure, type RadiusDb } from './sqlite.ts';

/** One write waiting for the turn's transaction. */
interface Job {
  what: string;
  body: () => number;
  signal: AbortSignal | undefined;
  resolve(changed: number): void;
  reject(err: unknown): void;
}

/** RadiusReplyPort on a `radreply` table in SQLite. */
export class SqliteReplyStore extends LoggedReplyPort {
  private readonly managed: string[];
  private queue: Job[] = [];
  private readonly selectUserAttributeRows;
  private readonly deleteUserAttribute;
  private readonly insertReplyRow;

  constructor(
    private readonly db: RadiusDb,
    opts: { framedPrefix: FramedPrefixMode; log: Logger },
  ) {
    super(opts);
    this.managed = managedAttributes(opts.framedPrefix);
    this.selectUserAttributeRows = db.prepare<{ username: string; attribute: string }, ReplyRow>(
      'SELECT id, username, attribute, op, value FROM radreply WHERE username = @username AND lower(attribute) = lower(@attribute) ORDER BY id',
    );
    this.deleteUserAttribute = db.prepare<{ username: string; attribute: string }>(
      'DELETE FROM radreply WHERE username = @username AND lower(attribute) = lower(@attribute)',
    );
    this.insertReplyRow = db.prepare<{ username: string; attribute: string; op: string; value: string }>(
      'INSERT INTO radreply (username, attribute, op, value) VALUES (@username, @attribute, @op, @value)',
    );
  }

  /** writeReply without its log line: how many attributes changed (the worker's side calls it). */
  write(cmd: WriteReplyCommand, signal?: AbortSignal): Promise<number> {
    const desired = desiredReply(cmd, this.opts.framedPrefix);
    return this.run('radreply write', signal, () => {
      let n = 0;
      for (const attribute of this.managed) n += this.converge(cmd.username, attribute, desired.get(attribute) ?? null);
      return n;
    });
  }

  /** removeReply without its log line: how many rows went. */
  remove(username: string, signal?: AbortSignal): Promise<number> {
    return this.run('radreply remove', signal, () => {
      let n = 0;
      for (const attribute of this.managed) n += this.deleteUserAttribute.run({ username, attribute }).changes;
      return n;
    });
  }

  /** Closes the connection (the composition root calls it on shutdown). */
  close(): void {
    this.db.close();
  }

  private converge(username: string, attribute: string, value: string | null): number {
    const rows = this.selectUserAttributeRows.all({ username, attribute });
    if (value === null) return rows.length === 0 ? 0 : this.deleteUserAttribute.run({ username, attribute }).changes;
    const only = rows.length === 1 ? rows[0]! : null;
    if (only && only.op === REPLY_OP && only.value === value && only.attribute === attribute) return 0;
    // Duplicates or a different op/value: one row per attribute is what `:=` means.
    this.deleteUserAttribute.run({ username, attribute });
    this.insertReplyRow.run({ username, attribute, op: REPLY_OP, value });
    return 1;
  }

  /** Queues `body` for this turn's transaction; resolves once that transaction is committed. */
  private run(what: string, signal: AbortSignal | undefined, body: () => number): Promise<number> {
    return new Promise((resolve, reject) => {
      this.queue.push({ what, body, signal, resolve, reject });
      if (this.queue.length === 1) setImmediate(() => this.flush());
    });
  }

  /** Runs the queued writes, each in its own savepoint, in one IMMEDIATE transaction. */
  private flush(): void {
    const batch = this.queue;
    this.queue = [];
    const outcomes: ({ changed: number } | { err: unknown })[] = [];
    try {
      // IMMEDIATE takes the write lock up front: a deferred read-then-write can deadlock with
      // FreeRADIUS's connection and skip the busy handler (SQLite "lock upgrade" rule).
      this.db
        .transaction(() => {
          for (const job of batch) {
            try {
              job.signal?.throwIfAborted();
              // A nested transaction is a savepoint: a write that fails leaves no half of itself, and the others stand.
              outcomes.push({ changed: this.db.transaction(job.body)() });
            } catch (err) {
              // SQLite rolled the whole transaction back (a disk error): nothing of this batch is on disk.
              if (!this.db.inTransaction) throw err;
              outcomes.push({ err });
            }
          }
        })
        .immediate();
    } catch (err) {
      // The lock stayed held past busy_timeout, or the commit failed: no write of the batch happened.
      for (const job of batch) job.reject(sqliteFailure(err, job.what));
      return;
    }
    batch.forEach((job, i) => {
      const outcome = outcomes[i]!;
      if ('changed' in outcome) job.resolve(outcome.changed);
      else job.reject(job.signal?.aborted && outcome.err === job.signal.reason ? outcome.err : sqliteFailure(outcome.err, job.what));
    });
  }
}

/** Opens the configured backend (SQLite today) and returns the reply port; `close()` on shutdown. */
export function createRadiusReplyStore(config: RadiusConfig, log: Logger): SqliteReplyStore {
  const child = log.child({ component: 'radius-reply' });
  return new SqliteReplyStore(openRadiusSqlite(sqliteSettings(config.sql), child), { framedPrefix: config.reply.framed_prefix, log: child });
}
