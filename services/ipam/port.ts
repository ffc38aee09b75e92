/** A pool of delegated prefixes, as configuration names it. */
/** A block nesting with another (IpamPort.nestedHeld). */
export interface NestedBlock {
  prefix: string;
  lifecycleId: string;
}

/**
 * nestedHeld's most: one around a prefix, or the first inside it. More than one only when the first
 * is a lifecycle's that is no longer live (its release not made yet), which the import passes over.
 */
export const NESTED_LIMIT = 16;

export interface PoolInfo {
  name: string;
  /** Parent prefix in canonical compressed form, e.g. `2001:db8::/32`. */
  prefix: string;
  /** Length of the prefixes delegated from this pool, e.g. 56. */
  prefixLength: number;
}

export interface AllocateCommand {
  /** Idempotency key derived from the lifecycle id and the step: the same key returns the same prefix. */
  key: string;
  lifecycleId: string;
  subscriberId: string;
  pool: string;
  prefixLength: number;
  /**
   * An update's allocation: the subscriber is being renumbered, so a sticky pool must not hand back
   * a block the subscriber held before (owner affinity is for a subscriber allocated again after a
   * revocation).
   */
  renumber?: boolean;
}

export interface Allocation {
  /** Canonical compressed form, e.g. `2001:db8:100::/56`. */
  prefix: string;
  prefixLength: number;
  /** NetBox's id of the child prefix; null when the embedded IPAM serves the pool. */
  netboxPrefixId: number | null;
}

export interface ReleaseCommand {
  lifecycleId: string;
  /** Whose prefix it was: a sticky pool gives it back to this subscriber while it is quarantined. */
  subscriberId?: string;
  pool: string;
  prefix: string;
  netboxPrefixId: number | null;
}

/** An allocation step's key, to look up what IPAM holds under it without allocating. */
export interface KeyLookup {
  key: string;
  lifecycleId: string;
  pool: string;
}

export interface PoolUtilization extends PoolInfo {
  /** How many prefixes of `prefixLength` the pool holds. */
  capacity: number;
  /**
   * How much of the pool is taken (by this service or by anyone else), quarantined blocks included,
   * in units of `prefixLength`: a /48 in a /56 pool is 256, a /63 spoils its whole /56 and is 1.
   */
  allocated: number;
  /** Of `allocated`, the released blocks not reusable yet: quarantined until their revocation ends, or in their hold-down. */
  heldDown?: number;
  /** True for a pool removed from the configuration that lifecycles still use: it takes no new allocation. */
  draining?: boolean;
}

/**
 * A prefix the IPAM holds under this service's mark, and the lifecycle and allocation key the mark
 * names: a prefix its lifecycle does not hold, under a key that is not an unconfirmed attempt of
 * that lifecycle, is unambiguously a leak (compare keys with `markedUnder`).
 */
export interface MarkedPrefix {
  pool: string;
  prefix: string;
  lifecycleId: string;
  /** The idempotency key it was allocated under; where the mark has no room for it (a NetBox description), its `keyDigest`. */
  key: string;
  /** True when `key` is only the digest of the key. */
  keyIsDigest?: boolean;
}

/** A prefix already in the field that a lifecycle takes over (adoption): recorded under `key` as if allocated. */
export interface AdoptCommand {
  lifecycleId: string;
  /** Whose it is: the mark names the subscriber, as an allocation's does. */
  subscriberId: string;
  /** The key the lifecycle's first allocation would have used: leak detection and lookups see an allocation. */
  key: string;
  pool: string;
  /** Canonical compressed form. */
  prefix: string;
  /** NetBox's id of the prefix when the field listing found it there. */
  netboxPrefixId?: number | null;
}

/** IPAM port: every method is safe to repeat with the same command. */
export interface IpamPort {
  /** Allocates the first free aligned block, or returns the one already allocated under `cmd.key`. Throws `pool_exhausted`. */
  allocate(cmd: AllocateCommand, signal?: AbortSignal): Promise<Allocation>;
  /**
   * The same allocation made synchronously, on the lifecycle store's own database connection, so that
   * it can share the transaction that stores the lifecycle (the embedded IPAM); null when the pool's
   * IPAM cannot (NetBox). Throws as allocate() rejects. Call it only inside a transaction (a
   * savepoint) of the caller's that rolls back when it throws: it writes without one of its own.
   * Absent: never possible.
   */
  allocateNow?(cmd: AllocateCommand): Allocation | null;
  /**
   * The prefix stops being the lifecycle's, but stays quarantined: not reusable until free().
   * Releasing a prefix the IPAM no longer has (or has quarantined already) is success.
   */
  release(cmd: ReleaseCommand, signal?: AbortSignal): Promise<void>;
  /**
   * What IPAM holds under `cmd.key` for `cmd.lifecycleId` (released ones excluded), allocating
   * nothing: the release of an attempt whose answer was lost must not need the allocation to work.
   */
  allocatedUnder(cmd: KeyLookup, signal?: AbortSignal): Promise<Allocation[]>;
  /**
   * The prefix is carried by nobody any more: it becomes reusable once the pool's hold-down has
   * passed from now. Releases it first if release() has not. Freeing what is gone is success.
   */
  free(cmd: ReleaseCommand, signal?: AbortSignal): Promise<void>;
  /** Capacity and allocation figures of every configured pool. */
  utilization(signal?: AbortSignal): Promise<PoolUtilization[]>;
  /** Every prefix held under this service's mark, for leak detection. */
  markedPrefixes(signal?: AbortSignal): Promise<MarkedPrefix[]>;
  /**
   * The same holdings a page at a time, for an IPAM that holds too many to read in one go without
   * stalling the event loop (the embedded IPAM's million rows); without it, markedPrefixes() is one page.
   */
  markedPages?(signal?: AbortSignal): AsyncIterable<MarkedPrefix[]>;
  /**
   * Takes `cmd.prefix` over for the lifecycle under `cmd.key`: afterwards IPAM holds it exactly as an
   * allocation under that key. Repeating it is success; a prefix another lifecycle (or anyone but its
   * lifecycle, for the embedded IPAM) holds is refused with `idempotency_mismatch` on `prefix`.
   */
  adopt(cmd: AdoptCommand, signal?: AbortSignal): Promise<Allocation>;
  /**
   * Why adopt() would refuse `cmd` (its message), read without a write; null when it would take the
   * prefix over. An import plans with it, so its dry run names what the real run meets. Absent: the
   * IPAM's refusals are all planned from its listing (NetBox: our marks).
   */
  adoptionRefusal?(cmd: AdoptCommand, signal?: AbortSignal): Promise<string | null>;
  /**
   * The blocks of `pool` allocated around `prefix` or inside it, not exactly it, and their lifecycles,
   * in address order, NESTED_LIMIT at most: how an import finds another subscriber's block nesting
   * with a record's, a seek or two per record (issue 10: not a walk of every live lifecycle). Absent:
   * NetBox's are in its listing.
   */
  nestedHeld?(pool: string, prefix: string, signal?: AbortSignal): Promise<NestedBlock[]>;
}
