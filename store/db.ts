import Database from 'better-sqlite3';
import { existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { compactSnapshotSql } from './snapshot-codec.ts';

export type Db = Database.Database;

const migrationsDir = join(dirname(fileURLToPath(import.meta.url)), 'migrations');

/**
 * How long a write waits for another connection's lock before SQLITE_BUSY. better-sqlite3 waits
 * synchronously, so this is how long the event loop can stall: the group commit retries busy writes
 * asynchronously instead (runtime/group-commit.ts).
 */
export const BUSY_TIMEOUT_MS = 50;
/**
 * The -wal file is cut back to this once a checkpoint has reset it. A reader holding a snapshot (a
 * backup, an operator's shell) lets the WAL grow past the ~4 MB the auto-checkpoint keeps it at,
 * and SQLite never shrinks it otherwise (https://www.sqlite.org/pragma.html#pragma_journal_size_limit).
 */
export const WAL_SIZE_LIMIT_BYTES = 32 * 1024 * 1024;
/** At start-up nothing is served yet: a lock held by a backup or an operator's shell is waited for. */
const OPEN_BUSY_TIMEOUT_MS = 5000;

/** Opens (creating if needed) the SQLite file in WAL mode and runs the numbered migrations it has not seen. */
export function openDatabase(file: string): Db {
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
  const db = new Database(file);
  try {
    db.pragma(`busy_timeout = ${OPEN_BUSY_TIMEOUT_MS}`);
    db.pragma('journal_mode = WAL');
    // NORMAL is durable across a process crash in WAL mode; only an OS crash can lose the last commits.
    db.pragma('synchronous = NORMAL');
    db.pragma(`journal_size_limit = ${WAL_SIZE_LIMIT_BYTES}`);
    db.pragma('foreign_keys = ON');
    // The snapshot codec, for the migration that rewrites stored snapshots in its compact version.
    db.function('compact_snapshot', { deterministic: true, varargs: true }, compactSnapshotSql);
    migrate(db);
    // Savepoint and statement journals in memory: a batch's savepoints (one per allocation made at
    // once, runtime/host-writes.ts) journal ~100 KiB each, past SQLite's 64 KiB spill, so on disk they
    // cost ~47 pwrite() calls per allocation. After the migrations, whose sorts may be large.
    db.pragma('temp_store = MEMORY');
    db.pragma(`busy_timeout = ${BUSY_TIMEOUT_MS}`);
  } catch (err) {
    db.close();
    throw err;
  }
  return db;
}

function migrate(db: Db): void {
  const applied = db.pragma('user_version', { simple: true }) as number;
  const files = readdirSync(migrationsDir)
    .filter((f) => /^\d{3}-.+\.sql$/.test(f))
    .sort();
  for (const file of files) {
    const version = Number(file.slice(0, 3));
    if (version <= applied) continue;
    const sql = readFileSync(join(migrationsDir, file), 'utf8');
    db.transaction(() => {
      db.exec(sql);
      db.pragma(`user_version = ${version}`);
    })();
  }
}

/** Why the store could not be opened; the message names the file, and what to do. */
export class StoreError extends Error {
  readonly file: string;
  readonly reason: 'locked' | 'unwritable' | 'corrupt';
  constructor(reason: StoreError['reason'], file: string, message: string, cause?: unknown) {
    super(message, cause === undefined ? undefined : { cause });
    this.name = 'StoreError';
    this.reason = reason;
    this.file = file;
  }
}

/** SQLite result codes that say the store cannot take writes now (as opposed to a bug in a statement). */
export function isStoreUnavailable(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^SQLITE_(BUSY|LOCKED|FULL|READONLY|IOERR|CANTOPEN|PROTOCOL|NOTADB|CORRUPT)/.test(code);
}

/** Only another connection's lock: worth retrying as it is; the others need an operator. */
export function isStoreBusy(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return typeof code === 'string' && /^SQLITE_(BUSY|LOCKED)/.test(code);
}

/** A write that changes nothing but must reach the file: fails on a read-only file, a full disk or a lock. */
export function probeWrite(db: Db): void {
  const version = db.pragma('user_version', { simple: true }) as number;
  db.pragma(`user_version = ${version}`);
}

/** The database of one running process; see `openStore`. */
export interface Store {
  db: Db;
  file: string;
  /** The file did not exist (or was empty): this start created it. */
  fresh: boolean;
  /** Closes the database and gives up the process lock (the lock file stays, like `-wal`). */
  close(): void;
  /** Closes, and removes every file and folder this start created: for a start that fails after opening. */
  discard(): void;
}

/**
 * Opens the database for this process alone: an exclusive lock on `<file>.lock`, held as an open
 * SQLite write transaction, so the kernel drops it with the process (a SIGKILL never blocks a
 * restart), and a second instance is refused with the holder's PID. The file must take writes.
 * On failure nothing this call created is left behind.
 */
export function openStore(file: string): Store {
  if (file === ':memory:') {
    const db = openDatabase(file);
    return { db, file, fresh: true, close: () => db.close(), discard: () => db.close() };
  }
  const created: string[] = [];
  const madeDir = mkdirSync(dirname(file), { recursive: true });
  const lockFile = `${file}.lock`;
  if (!existsSync(lockFile)) created.push(lockFile, `${lockFile}-journal`);
  const fresh = !existsSync(file) || statSync(file).size === 0;
  if (fresh) created.push(file, `${file}-wal`, `${file}-shm`, `${file}-journal`);
  const removeCreated = () => {
    for (const f of created) rmSync(f, { force: true });
    if (madeDir) rmSync(madeDir, { recursive: true, force: true });
  };
  let lock: Db | null = null;
  let db: Db | null = null;
  try {
    lock = acquireLock(file, lockFile);
    try {
      db = openDatabase(file);
    } catch (err) {
      throw describe(file, err);
    }
    try {
      probeWrite(db);
    } catch (err) {
      throw new StoreError('unwritable', file, `database ${file} does not take writes (${(err as Error).message}); check its permissions and the free disk space`, err);
    }
  } catch (err) {
    (db as Db | null)?.close();
    (lock as Db | null)?.close();
    // A refused lock means another process owns these files, whatever this start thought it created.
    if (!(err instanceof StoreError && err.reason === 'locked')) removeCreated();
    throw err;
  }
  const opened = db;
  const held = lock;
  const close = () => {
    if (opened.open) opened.close();
    if (held.open) held.close();
  };
  return {
    db: opened,
    file,
    fresh,
    close,
    discard: () => {
      close();
      removeCreated();
    },
  };
}

function describe(file: string, err: unknown): Error {
  const code = (err as { code?: string }).code ?? '';
  const message = (err as Error).message;
  if (/^SQLITE_(NOTADB|CORRUPT)/.test(code)) {
    return new StoreError('corrupt', file, `database ${file} is corrupt or not a SQLite database (${message}); restore it from a backup`, err);
  }
  if (isStoreBusy(err)) return new StoreError('locked', file, `database ${file} stayed locked by another connection (${message})`, err);
  if (isStoreUnavailable(err) || code === 'EACCES' || code === 'EROFS') {
    return new StoreError('unwritable', file, `database ${file} cannot be opened for writing (${message}); check its permissions and the free disk space`, err);
  }
  return new StoreError('corrupt', file, `database ${file} could not be opened (${message})`, err);
}

/** Takes the process lock, or throws naming the file and the PID that holds it. */
function acquireLock(file: string, lockFile: string): Db {
  let lock: Db;
  try {
    lock = new Database(lockFile, { timeout: 0 });
  } catch (err) {
    throw describe(file, err);
  }
  const refuse = (): never => {
    const pid = holderPid(lock);
    lock.close();
    throw new StoreError(
      'locked',
      file,
      `database ${file} is in use by another ipv6-lifecycle process${pid ? ` (PID ${pid})` : ''}: one process per database (lock: ${lockFile})`,
    );
  };
  const take = () => {
    try {
      lock.exec('BEGIN IMMEDIATE');
    } catch (err) {
      if (isStoreBusy(err)) refuse();
      lock.close();
      throw describe(file, err);
    }
  };
  take();
  try {
    lock.exec('CREATE TABLE IF NOT EXISTS holder (pid INTEGER NOT NULL, since TEXT NOT NULL)');
    lock.exec('DELETE FROM holder');
    lock.prepare('INSERT INTO holder (pid, since) VALUES (?, ?)').run(process.pid, new Date().toISOString());
    // The commit needs readers (a refused instance reading the PID) gone for a moment.
    lock.pragma('busy_timeout = 1000');
    lock.exec('COMMIT');
    lock.pragma('busy_timeout = 0');
  } catch (err) {
    lock.close();
    throw describe(file, err);
  }
  // Held from here until close() or the end of the process: readers see the PID, writers are refused.
  // (Another start may have taken it in the instant between the commit and this.)
  take();
  return lock;
}

function holderPid(lock: Db): number | null {
  for (let i = 0; i < 5; i++) {
    try {
      const row = lock.prepare('SELECT pid FROM holder').get() as { pid: number } | undefined;
      if (row) return row.pid;
    } catch {
      // The holder is between taking the lock and writing its PID.
    }
    Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 20);
  }
  return null;
}
