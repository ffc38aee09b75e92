// What a kind of NAS wants in a Disconnect/CoA-Request and what its accounting shows. The vendor
// profiles are written from the vendors' public documentation (cited in docs/radius.md), not
// tested against the equipment: they are starting points, and each field can be overridden per NAS.

/** Attributes that can identify a session in a request (RFC 5176 §3). `NAS-IP-Address` means NAS-IPv6-Address for an IPv6 NAS. */
export const IDENTIFYING_ATTRIBUTES = ['User-Name', 'Acct-Session-Id', 'NAS-IP-Address', 'Framed-IPv6-Prefix', 'Calling-Station-Id'] as const;
export type IdentifyingAttribute = (typeof IDENTIFYING_ATTRIBUTES)[number];

export interface NasProfile {
  /** Which attributes identify the session (sent when radacct has a value for them). */
  attributes: IdentifyingAttribute[];
  /** The NAS reports Delegated-IPv6-Prefix in accounting, so a CoA moving the prefix can be confirmed. */
  reportsPd: boolean;
  /** A CoA that accounting did not confirm: keep it (`keep`), or end the session (`disconnect`) so it re-authenticates. */
  unconfirmedCoa: 'keep' | 'disconnect';
  /** Where this profile comes from. */
  source: string;
}

export const NAS_PROFILES = {
  /** What RFC 5176 §3 suggests and what this service always sent: user, session and NAS. */
  rfc5176: {
    attributes: ['User-Name', 'Acct-Session-Id', 'NAS-IP-Address'],
    reportsPd: true,
    unconfirmedCoa: 'keep',
    source: 'RFC 5176 §3',
  },
  /**
   * accel-ppp's DAE server (`[radius] dae-server=`) takes Disconnect and CoA and ACKs a CoA whose
   * attributes it does not apply (issue 13): a prefix change is only believed from accounting, and
   * an unconfirmed one ends the session so it comes back with the new radreply.
   */
  'accel-ppp': {
    attributes: ['User-Name', 'Acct-Session-Id', 'NAS-IP-Address'],
    reportsPd: false,
    unconfirmedCoa: 'disconnect',
    source: 'accel-ppp documentation ([radius] dae-server); the ACK behaviour from issue 13',
  },
  /**
   * RouterOS (`/radius incoming set accept=yes`, port 3799; 1700 on older releases) identifies the
   * session by User-Name / Acct-Session-Id; its accounting (Start, Interim-Update if configured,
   * Stop) is not documented to carry Delegated-IPv6-Prefix, so a CoA is not confirmable.
   */
  mikrotik: {
    attributes: ['User-Name', 'Acct-Session-Id', 'NAS-IP-Address'],
    reportsPd: false,
    unconfirmedCoa: 'disconnect',
    source: 'MikroTik RouterOS documentation: RADIUS client, incoming requests; RADIUS accounting and CoA',
  },
  /** Junos subscriber management: RADIUS dynamic requests (CoA and Disconnect) on UDP 3799, sessions by Acct-Session-Id. */
  'juniper-mx': {
    attributes: ['Acct-Session-Id', 'NAS-IP-Address'],
    reportsPd: true,
    unconfirmedCoa: 'keep',
    source: 'Juniper documentation: using RADIUS dynamic requests for subscriber access management',
  },
  /**
   * Cisco's CoA (`aaa server radius dynamic-author`) locates a session by Acct-Session-Id (or
   * Calling-Station-Id, Framed-IPv6-Prefix…), and every identifying attribute sent must match or it
   * NAKs with Invalid-Attribute-Value: send the one it matches best.
   */
  'cisco-iosxe': {
    attributes: ['Acct-Session-Id', 'NAS-IP-Address'],
    reportsPd: true,
    unconfirmedCoa: 'keep',
    source: 'Cisco documentation: RADIUS Change of Authorization, session identification',
  },
} as const satisfies Record<string, NasProfile>;

export type NasProfileName = keyof typeof NAS_PROFILES;
export const NAS_PROFILE_NAMES = Object.keys(NAS_PROFILES) as [NasProfileName, ...NasProfileName[]];
