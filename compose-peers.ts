// The RADIUS and CPE ports the configuration names, for the composition root (compose.ts): the
// radreply store and the RFC 5176 client (the radius section), the GenieACS client (the genieacs
// section), an override in place of any of them, and each behind its peer's limit.
import type { Logger } from 'pino';
import type { Config } from './config.ts';
import { limitPort, PEER_METHODS } from './runtime/peer-limits.ts';
import { createGenieacsCpe } from './services/genieacs/genieacs.ts';
import type { CpePort } from './services/genieacs/port.ts';
import { openRadiusReplies } from './services/radius/backends.ts';
import { createDynamicAuthorization } from './services/radius/dynamic-authorization.ts';
import type { DynamicAuthorizationPort, RadiusReplyPort } from './services/radius/port.ts';
import { replyUsernameProblem } from './services/radius/reply-attributes.ts';
import { escapedUsernameProblem } from './services/radius/sql-escape.ts';

export interface Peers {
  replies: RadiusReplyPort | null;
  sessions: DynamicAuthorizationPort | null;
  cpe: CpePort | null;
  /** With RADIUS, how radreply takes usernames (LifecycleServiceOptions.usernames); else null. */
  usernames: { problem(username: string): string | null; folded: boolean } | null;
}

/** The peers' ports; what must be closed at the stop goes into `closers`. */
export async function buildPeers(
  config: Config,
  log: Logger,
  env: NodeJS.ProcessEnv,
  overrides: { replies?: RadiusReplyPort | null; sessions?: DynamicAuthorizationPort | null; cpe?: CpePort | null },
  closers: (() => void)[],
): Promise<Peers> {
  let replies: RadiusReplyPort | null = null;
  let sessions: DynamicAuthorizationPort | null = null;
  if (config.radius) {
    const replyStore = await openRadiusReplies(config.radius, log, env);
    const da = createDynamicAuthorization(config.radius, log, { env });
    closers.push(() => replyStore.close?.(), () => da.close());
    replies = replyStore;
    sessions = da;
  }
  if (overrides.replies !== undefined) replies = overrides.replies;
  if (overrides.sessions !== undefined) sessions = overrides.sessions;
  let cpe = overrides.cpe !== undefined ? overrides.cpe : config.genieacs ? createGenieacsCpe(config.genieacs, log, { env }) : null;
  // Each peer gets at most its limit of requests in flight, whoever sends them (steps, recovery, the pending worker).
  if (replies) replies = limitPort(replies, PEER_METHODS.replies, config.limits.radius_sql.concurrency);
  if (sessions) sessions = limitPort(sessions, PEER_METHODS.sessions, config.limits.nas.concurrency);
  if (cpe) cpe = limitPort(cpe, PEER_METHODS.cpe, config.limits.genieacs.concurrency);
  if (!replies) log.warn('no radius section: RADIUS reply attributes and CoA/Disconnect are skipped');
  if (!cpe) log.warn('no ACS configured: CPE steps are skipped');
  // MySQL's stock collation compares usernames case- and trailing-space-insensitively (docs/radius.md).
  // A username FreeRADIUS would look up escaped is refused at activate, before any row is written.
  const problem = (u: string) => replyUsernameProblem(u) ?? escapedUsernameProblem(u);
  const usernames = replies ? { problem, folded: config.radius?.sql.backend === 'mysql' } : null;
  return { replies, sessions, cpe, usernames };
}
