import { z } from 'zod';

/**
 * The base URL of a peer's HTTP API (NetBox, the GenieACS NBI): http(s), no query or fragment, and no
 * credentials, which would be a secret in the file that --check-config prints. `instead` says where
 * the credentials come from.
 */
export function peerBaseUrl(instead: string) {
  return z
    .url({ protocol: /^https?$/ })
    .refine((u) => {
      const p = new URL(u);
      return p.username === '' && p.password === '';
    }, `must not carry credentials; ${instead}`)
    .refine((u) => {
      const p = new URL(u);
      return p.search === '' && p.hash === '';
    }, 'must not have a query or fragment');
}
