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

/**
 * The largest answer read from a peer (NetBox, the GenieACS NBI): axios would buffer any size whole.
 * NetBox's largest page (1,000 prefixes) is ~2 MB.
 */
export const PEER_ANSWER_MAX_BYTES = 32 * 1024 * 1024;

/** What an axios failure is called in an error message: its code only (the error carries the request, credentials included). */
export function transportFault(err: unknown): string {
  const { code, message } = err as { code?: string; message?: string };
  if (typeof message === 'string' && message.startsWith('maxContentLength size of')) return `an answer over ${PEER_ANSWER_MAX_BYTES / 1024 / 1024} MiB, not read`;
  return code ?? 'network error';
}
