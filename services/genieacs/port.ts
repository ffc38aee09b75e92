export interface CpeCommand {
  /** Idempotency key from the lifecycle id and the step (GenieACS `uniqueKey`). */
  key: string;
  /** GenieACS device id, `OUI-ProductClass-Serial`. */
  cpeId: string;
  /**
   * A pending step's retry: an earlier call queued this command, so the ACS is asked first whether
   * the task ran at an inform (or is still held) before anything is submitted again.
   */
  pending?: boolean;
}

/**
 * `done`: the CPE applied it (`reason: 'unknown_to_acs'`: a removal for a device the ACS does not
 * know, so there is nothing to remove); `queued`: the CPE is offline and the ACS holds the task.
 */
export type CpeResult =
  | { status: 'done'; reason?: 'unknown_to_acs' }
  /** `problem`: why it stays queued though the CPE took it (a superseded task of ours the NBI would not delete); shown as the pending step's last_error. */
  | { status: 'queued'; taskId: string | null; problem?: string };

/** CPE port (GenieACS NBI): DHCPv6-PD on and off; each call is safe to repeat. */
export interface CpePort {
  /** Enables DHCPv6 prefix delegation on the CPE's WAN for `prefix`. */
  configurePd(cmd: CpeCommand & { prefix: string }, signal?: AbortSignal): Promise<CpeResult>;
  /** Removes IPv6 (DHCPv6-PD) from the CPE. */
  removeIpv6(cmd: CpeCommand, signal?: AbortSignal): Promise<CpeResult>;
}
