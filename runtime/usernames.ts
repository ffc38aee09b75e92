// A RADIUS username belongs to one live lifecycle at a time. radreply is keyed by username
// (FreeRADIUS's schema): a second subscriber activated with it would overwrite the first's
// Delegated-IPv6-Prefix, and the first's revocation would then delete the second's reply.
import { ServiceError } from '../services/errors.ts';
import type { LifecyclePort } from '../store/port.ts';

/**
 * Takes a username for a subscriber's activation, or refuses it (409 `username_in_use`, naming the
 * holder). The store answers for what is on disk; the claims kept here answer for activations of
 * this process between their check and the commit that writes the username, so two at once cannot
 * both pass. Several instances on PostgreSQL check the store only: see docs/api.md.
 */
export class UsernameClaims {
  readonly #store: Pick<LifecyclePort, 'usernameHolder'>;
  readonly #claims = new Map<string, string>();
  readonly #folded: boolean;

  /** `folded`: the RADIUS database takes usernames differing in ASCII case or trailing spaces for one (MySQL's collation). */
  constructor(store: Pick<LifecyclePort, 'usernameHolder'>, opts: { folded?: boolean } = {}) {
    this.#store = store;
    this.#folded = opts.folded ?? false;
  }

  /** Resolves with the release, to call once the lifecycle's row carries the username. */
  async take(username: string, subscriberId: string): Promise<() => void> {
    const key = this.#folded ? username.replace(/ +$/, '').replace(/[A-Z]+/g, (m) => m.toLowerCase()) : username;
    const claimedByOther = () => {
      const c = this.#claims.get(key);
      return c !== undefined && c !== subscriberId ? c : null;
    };
    // Asked again after the read: another activation may have claimed it meanwhile.
    const taken = claimedByOther() ?? (await this.#store.usernameHolder(username, subscriberId, this.#folded)) ?? claimedByOther();
    if (taken !== null) {
      throw new ServiceError('username_in_use', `username: ${username} is the RADIUS username of subscriber ${taken}, whose lifecycle is live; revoke it first`, {
        field: 'username',
      });
    }
    this.#claims.set(key, subscriberId);
    return () => {
      if (this.#claims.get(key) === subscriberId) this.#claims.delete(key);
    };
  }
}
