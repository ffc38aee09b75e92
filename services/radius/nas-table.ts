// Per-NAS port, action and shared secret. Secrets are read from the environment once, when the
// port is built, so a missing variable stops start-up instead of a revocation, and the values
// live only here, never in the configuration object that might be logged.
import type { DynamicAuthorizationConfig } from './config.ts';
import { NAS_PROFILES, type IdentifyingAttribute } from './nas-profiles.ts';
import type { SessionAction } from './port.ts';

/** Where and how to reach one NAS. `secret` is null when none is configured for it. */
export interface NasTarget {
  /** Where requests go and answers must come from: `coa_address`, else the NAS-IP-Address itself. */
  host: string;
  port: number;
  action: SessionAction;
  secret: string | null;
  /** The identifying attributes it wants, whether its accounting shows PD, what an unconfirmed CoA becomes. */
  attributes: IdentifyingAttribute[];
  reportsPd: boolean;
  unconfirmedCoa: 'keep' | 'disconnect';
}

/** Lookup by canonical NAS address (radacct's nasipaddress), falling back to the defaults. */
export interface NasTable {
  lookup(address: string): NasTarget;
}

/** Resolves every configured secret from `env`; throws naming the variable (never a value) if one is unset. */
export function resolveNasTable(cfg: DynamicAuthorizationConfig, env: NodeJS.ProcessEnv): NasTable {
  const read = (name: string, where: string): string => {
    const value = env[name];
    if (value === undefined || value === '') throw new Error(`environment variable ${name} (${where}) is not set`);
    return value;
  };
  const generic = NAS_PROFILES.rfc5176;
  const fallback: Omit<NasTarget, 'host'> = {
    attributes: [...generic.attributes],
    reportsPd: generic.reportsPd,
    unconfirmedCoa: generic.unconfirmedCoa,
    port: cfg.default_port,
    action: cfg.action,
    secret: cfg.default_secret_env === undefined ? null : read(cfg.default_secret_env, 'radius.dynamic_authorization.default_secret_env'),
  };
  const byAddress = new Map<string, NasTarget>();
  for (const nas of cfg.nas) {
    const where = `secret of NAS ${nas.address}`;
    const profile: { attributes: readonly IdentifyingAttribute[]; reportsPd: boolean; unconfirmedCoa: 'keep' | 'disconnect' } = NAS_PROFILES[nas.profile ?? 'rfc5176'];
    byAddress.set(nas.address, {
      host: nas.coa_address ?? nas.address,
      attributes: [...(nas.attributes ?? profile.attributes)],
      reportsPd: nas.reports_pd ?? profile.reportsPd,
      unconfirmedCoa: nas.unconfirmed_coa ?? profile.unconfirmedCoa,
      port: nas.port ?? fallback.port,
      action: nas.action ?? fallback.action,
      secret: nas.secret ?? (nas.secret_env === undefined ? fallback.secret : read(nas.secret_env, where)),
    });
  }
  return { lookup: (address) => byAddress.get(address) ?? { ...fallback, host: address } };
}
