// RadiusReplyPort with FreeRADIUS's SQLite file written from a worker thread. The commits (several
// fsyncs each with FreeRADIUS's default DELETE journal, and SQLite's busy wait while FreeRADIUS holds
// the lock) then never hold the service's event loop. The worker runs the same SqliteReplyStore,
// so its writes keep their batching per turn, their idempotency and their error classes; a call
// resolves once its write is committed. The log lines stay on this side, under the caller's scope.
import { isMainThread, parentPort, Worker, workerData } from 'node:worker_threads';
import pino, { type Logger } from 'pino';
import { ServiceError, type ErrorCode } from '../errors.ts';
import { sqliteSettings, type RadiusConfig } from './config.ts';
import type { RadiusReplyPort, WriteReplyCommand } from './port.ts';
import { desiredReply, type FramedPrefixMode } from './reply-attributes.ts';
import { createRadiusReplyStore, type SqliteReplyStore } from './reply-store.ts';
import { openRadiusSqlite, sqliteFailure } from './sqlite.ts';

type Request = { id: number; op: 'write'; cmd: WriteReplyCommand } | { id: number; op: 'remove'; username: string } | { op: 'close' };
type Reply = { id: number; changed: number } | { id: number; error: { code: ErrorCode; message: string; retryable: boolean } };

/** The service's side: sends each write to the worker and answers when it is committed there. */
export class WorkerReplyStore implements RadiusReplyPort {
  readonly #worker: Worker;
  readonly #waiting = new Map<number, { resolve(changed: number): void; reject(err: unknown): void }>();
  #next = 1;
  #failed: Error | null = null;

  constructor(
    config: RadiusConfig,
    private readonly opts: { framedPrefix: FramedPrefixMode; log: Logger },
  ) {
    // Node 20 does not run `--import tsx` in workers: the worker registers tsx itself, then loads this file.
    const boot = `import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((tsx) => { tsx.register(); return import(${JSON.stringify(import.meta.url)}); })`;
    this.#worker = new Worker(boot, { eval: true, workerData: { config } });
    this.#worker.unref();
    this.#worker.on('message', (m: Reply) => {
      const w = this.#waiting.get(m.id);
      if (!w) return;
      this.#settled(m.id);
      if ('changed' in m) w.resolve(m.changed);
      else w.reject(new ServiceError(m.error.code, m.error.message, { retryable: m.error.retryable }));
    });
    const fail = (err: Error) => {
      this.#failed = err;
      for (const [id, w] of this.#waiting) {
        this.#settled(id);
        w.reject(new ServiceError('upstream_unavailable', `radreply writer stopped: ${err.message}`, { retryable: false }));
      }
    };
    this.#worker.on('error', fail);
    this.#worker.on('exit', (code) => this.#waiting.size > 0 && fail(new Error(`exited with ${code}`)));
  }

  async writeReply(cmd: WriteReplyCommand, signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    // Validated here too, so a bad prefix fails at once with validation_error, as in process.
    const desired = desiredReply(cmd, this.opts.framedPrefix);
    const changed = await this.#send((id) => ({ id, op: 'write', cmd }));
    this.opts.log.info(
      { username: cmd.username, attributes: Object.fromEntries(desired), changed },
      changed > 0 ? 'radreply written' : 'radreply already current',
    );
  }

  async removeReply(cmd: { username: string }, signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    const changed = await this.#send((id) => ({ id, op: 'remove', username: cmd.username }));
    this.opts.log.info({ username: cmd.username, changed }, changed > 0 ? 'radreply removed' : 'radreply already absent');
  }

  /** Writes what the worker was sent, then closes its connection and ends it; resolves when it has. */
  close(): Promise<void> {
    this.#worker.ref();
    const ended = new Promise<void>((resolve) => this.#worker.once('exit', () => resolve()));
    this.#worker.postMessage({ op: 'close' } satisfies Request);
    return ended;
  }

  #send(request: (id: number) => Request): Promise<number> {
    if (this.#failed) return Promise.reject(new ServiceError('upstream_unavailable', `radreply writer stopped: ${this.#failed.message}`));
    const id = this.#next++;
    return new Promise((resolve, reject) => {
      this.#waiting.set(id, { resolve, reject });
      // Referenced only while a write is outstanding: an idle writer keeps no process alive.
      if (this.#waiting.size === 1) this.#worker.ref();
      this.#worker.postMessage(request(id));
    });
  }

  #settled(id: number): void {
    this.#waiting.delete(id);
    if (this.#waiting.size === 0) this.#worker.unref();
  }
}

/**
 * Checks FreeRADIUS's file at start-up here (a missing file or tables stop the start with the same
 * message as before), then starts the worker that writes it.
 */
export function createRadiusReplyWorker(config: RadiusConfig, log: Logger): WorkerReplyStore {
  const child = log.child({ component: 'radius-reply' });
  openRadiusSqlite(sqliteSettings(config.sql), child).close();
  return new WorkerReplyStore(config, { framedPrefix: config.reply.framed_prefix, log: child });
}

// The worker's side: the in-process store, its own log silent (the service's side logs each write).
if (!isMainThread && parentPort && (workerData as { config?: RadiusConfig } | null)?.config) {
  const port = parentPort;
  // Opened at the first write: a lock FreeRADIUS holds then fails that write as retryable, not the writer.
  let opened: SqliteReplyStore | null = null;
  const store = () => {
    try {
      return (opened ??= createRadiusReplyStore((workerData as { config: RadiusConfig }).config, pino({ level: 'silent' })));
    } catch (err) {
      throw sqliteFailure(err, 'radreply open');
    }
  };
  const answer = (id: number, p: Promise<unknown>) =>
    p.then(
      (changed) => port.postMessage({ id, changed: changed as number } satisfies Reply),
      (err: unknown) => {
        const e = err instanceof ServiceError ? err : new ServiceError('upstream_unavailable', String(err));
        port.postMessage({ id, error: { code: e.code, message: e.message, retryable: e.retryable } } satisfies Reply);
      },
    );
  port.on('message', (m: Request) => {
    if (m.op === 'write') answer(m.id, Promise.resolve().then(() => store().write(m.cmd)));
    else if (m.op === 'remove') answer(m.id, Promise.resolve().then(() => store().remove(m.username)));
    else
      // After this turn's batch (queued before this message) is written.
      setImmediate(() => {
        opened?.close();
        port.close();
      });
  });
}
