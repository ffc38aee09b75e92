import type { Logger } from 'pino';
import type { RadiusReplyPort, WriteReplyCommand } from './port.ts';
import { desiredReply, type FramedPrefixMode } from './reply-attributes.ts';

/**
 * The reply port's two calls, with the log line each backend writes the same way; a backend says
 * how it writes and removes a user's prefix attributes, and how many rows that changed.
 */
export abstract class LoggedReplyPort implements RadiusReplyPort {
  constructor(protected readonly opts: { framedPrefix: FramedPrefixMode; log: Logger }) {}

  /** Writes (or replaces) the user's prefix attributes; returns the rows changed (0: already current). */
  abstract write(cmd: WriteReplyCommand, signal?: AbortSignal): Promise<number>;
  /** Removes the user's prefix attributes; returns the rows removed (0: already absent). */
  abstract remove(username: string, signal?: AbortSignal): Promise<number>;

  /** Writes (or replaces) the user's prefix attributes; a repeat is a no-op. */
  async writeReply(cmd: WriteReplyCommand, signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    const desired = desiredReply(cmd, this.opts.framedPrefix);
    const changed = await this.write(cmd, signal);
    this.opts.log.info(
      { username: cmd.username, attributes: Object.fromEntries(desired), changed },
      changed > 0 ? 'radreply written' : 'radreply already current',
    );
  }

  /** Removes the user's prefix attributes; absent rows are success. */
  async removeReply(cmd: { username: string }, signal?: AbortSignal): Promise<void> {
    signal?.throwIfAborted();
    const changed = await this.remove(cmd.username, signal);
    this.opts.log.info({ username: cmd.username, changed }, changed > 0 ? 'radreply removed' : 'radreply already absent');
  }
}
