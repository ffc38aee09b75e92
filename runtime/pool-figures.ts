// The pools' figures for the Prometheus gauges (runtime/metrics.ts), read from IPAM: kept counts for
// the embedded IPAM, a walk of each pool's prefixes over HTTP for NetBox. One reading serves every
// pool gauge of a scrape and the scrapes after it for a while (fresh() below). A scrape waits for a
// new one up to IPAM_READ_MS, then shows the last one while the reading goes on (a big NetBox pool
// takes longer than Prometheus's scrape_timeout). A reading that fails (NetBox unreachable, refusing
// the token) leaves the pool series out and sets ipv6_ipam_up to 0, where a collect that threw failed
// the whole exposition, and every other series with it. The reading shown carries when it began, for
// ipv6_pool_figures_age_seconds: NetBox slow for good keeps ipv6_ipam_up at 1 on figures ever older.
import type { Logger } from 'pino';
import type { IpamPort, PoolUtilization } from '../services/ipam/port.ts';

/** The longest a scrape waits for a new reading of IPAM's figures before it shows the last one. */
export const IPAM_READ_MS = 3000;

/**
 * A reading serves the scrapes of the next second, unless a transition came since. One that took long
 * (a NetBox walk of many prefixes) serves four times as long as it took, transitions or not, so that
 * NetBox is not walked back to back while allocations go on.
 */
function fresh(last: { tookMs: number; stale: boolean }, ageMs: number): boolean {
  if (last.tookMs > 250 && ageMs <= 4 * last.tookMs) return true;
  return !last.stale && ageMs <= 1000;
}

interface Reading {
  startedAt: number;
  at: number;
  tookMs: number;
  stale: boolean;
  pools: PoolUtilization[];
}

export type PoolFigures = ReturnType<typeof createPoolFigures>;

export function createPoolFigures(ipam: Pick<IpamPort, 'utilization'>, log?: Pick<Logger, 'info' | 'warn'>) {
  /** The last reading: when it began and ended, how long it took, and whether a transition came since. */
  let last: Reading | null = null;
  let reading: Promise<Reading> | null = null;
  let up = true;

  const read = (): Promise<Reading> => {
    const started = Date.now();
    reading ??= ipam
      .utilization()
      .then(
        (pools) => {
          if (!up) log?.info('IPAM utilization read again: the pool series are back');
          const at = Date.now();
          [up, last] = [true, { startedAt: started, at, tookMs: at - started, stale: false, pools }];
          return last;
        },
        (err: unknown) => {
          if (up) log?.warn({ err: err instanceof Error ? err.message : String(err) }, 'IPAM utilization could not be read: the pool series are left out of the scrape until it can');
          [up, last] = [false, null];
          throw err;
        },
      )
      .finally(() => (reading = null));
    return reading;
  };

  /** The reading this scrape shows, or null when the last one failed or none has ended yet. */
  const shown = async (): Promise<Reading | null> => {
    if (last && fresh(last, Date.now() - last.at)) return last;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<null>((resolve) => (timer = setTimeout(() => resolve(null), IPAM_READ_MS)));
    try {
      return (await Promise.race([read(), late])) ?? last;
    } catch {
      return null;
    } finally {
      clearTimeout(timer);
    }
  };

  return {
    /** The figures for this scrape, or null when the last reading failed. */
    pools: async (): Promise<PoolUtilization[] | null> => (await shown())?.pools ?? null,
    /**
     * Seconds since the reading this scrape shows began (its oldest figure: a NetBox walk reads pool
     * after pool), or null when it shows none. From the start, not the end: a walk of minutes is that old.
     */
    async ageSeconds(): Promise<number | null> {
      const r = await shown();
      return r ? Math.max(0, Date.now() - r.startedAt) / 1000 : null;
    },
    /**
     * The figures for the API's summary (runtime/inventory.ts). A slow IPAM (the last reading took
     * over 250 ms: a NetBox walk) answers as a scrape does (that reading while fresh(), else a new one
     * or, past IPAM_READ_MS, the last), so that a dashboard polling the summary does not walk NetBox
     * on every call; a fast one (the
     * embedded IPAM's kept counts) is read anew, so the summary shows a transition at once, whatever
     * instance made it.
     */
    async summary(): Promise<PoolUtilization[]> {
      if (last && last.tookMs > 250) return ((await shown()) ?? (await read())).pools;
      if (!last) return (await read()).pools;
      return ipam.utilization();
    },
    /** False once a reading failed, until one succeeds; true while the first reading is still going on (nothing failed). */
    up: () => up,
    /** A transition happened: the next scrape reads again (the last reading stays, for one the new reading keeps waiting). */
    stale() {
      if (last) last.stale = true;
    },
  };
}
