import Database from 'better-sqlite3';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { ImporterDeps } from '../../services/adoption/importer.ts';
import type { RadiusFieldSource } from '../../services/adoption/types.ts';
import { createEmbeddedIpam } from '../../services/ipam/embedded.ts';
import { createIpamRouter } from '../../services/ipam/router.ts';
import { createRadiusFieldReader } from '../../services/field/radius.ts';
import { MARK_FIELDS } from '../../services/netbox/mark.ts';
import type { PoolSpec } from '../../runtime/operation-types.ts';
import { openDatabase, type Db } from '../../store/db.ts';
import { createLifecycleStore, type LifecycleStore } from '../../store/lifecycles.ts';
import { asyncOf } from '../../store/port.ts';
import { startHarness, type Harness } from './netbox-harness.ts';

// A messy field: a local NetBox holding our pool's parent, FreeRADIUS's own SQLite schema with
// radreply and radacct rows, the service's store and embedded IPAM. Every finding the plan can make
// is planted once (see `PLANTED`), next to three subscribers that adopt cleanly.

const SCHEMA = '/etc/freeradius/3.0/mods-config/sql/main/sqlite/schema.sql';

export const POOLS: PoolSpec[] = [
  { name: 'pd', prefix: '2001:db8::/40', prefix_length: 56, ipam: 'netbox' },
  { name: 'home', prefix: '2001:db9::/40', prefix_length: 56, ipam: 'embedded' },
];

/** What the dry run must find: prefix → conflict kinds. */
export const PLANTED: Record<string, string[]> = {
  '2001:db8:0:300::/56': ['no_radius_row'],
  '2001:db8:0:400::/56': ['shared_prefix'],
  '2001:db8:0:500::/60': ['wrong_length'],
  '2001:db8:0:600::/56': ['two_prefixes'],
  '2001:db8:0:700::/56': ['two_prefixes'],
  '2001:db8:0:800::/56': ['live_lifecycle'],
  '2001:db8:0:900::/56': ['unnamed'],
  '2001:dead::/56': ['outside_pools'],
};

/** What adopts cleanly: prefix → [subscriber, state, username, cpe]. */
export const CLEAN: Record<string, [string, string, string | null, string | null]> = {
  '2001:db8:0:100::/56': ['S-ACTIVE', 'active', 'alice', 'CPE-1'],
  '2001:db8:0:200::/56': ['S-SUSP', 'suspended', 'bob', null],
  '2001:db9:0:100::/56': ['S-ALLOC', 'allocated', null, null],
};

export const FILE = [
  { subscriber_id: 'S-ACTIVE', prefix: '2001:db8:0:100::/56', username: 'alice', cpe_id: 'CPE-1' },
  { subscriber_id: 'S-SUSP', prefix: '2001:db8:0:200::/56', username: 'bob', state: 'suspended' as const },
  { subscriber_id: 'S-ALLOC', prefix: '2001:db9:0:100::/56' },
];

export interface Field {
  harness: Harness;
  db: Db;
  /** The lifecycles, synchronous, for a test's own reads (`deps.store` is the same over the async port). */
  store: LifecycleStore;
  radius: Database.Database;
  deps: ImporterDeps;
  radiusDump(): string;
  close(): Promise<void>;
}

export async function seedField(): Promise<Field> {
  const dir = mkdtempSync(join(tmpdir(), 'adoption-'));
  const harness = await startHarness({ server: { customFields: [...Object.values(MARK_FIELDS), 'subscriber_id'] } });
  const nb = harness.server;
  let tenants = 0;
  const add = (prefix: string, subscriber: string | null) =>
    nb.addPrefix({
      prefix,
      status: 'active',
      description: subscriber ? `legacy; customer ${subscriber}` : 'legacy',
      customFields: subscriber ? { subscriber_id: subscriber } : {},
      ...(subscriber ? { tenant: { id: ++tenants, name: `Customer ${subscriber}`, slug: subscriber } } : {}),
    });
  add('2001:db8:0:100::/56', 'S-ACTIVE');
  add('2001:db8:0:200::/56', 'S-SUSP');
  add('2001:db8:0:300::/56', 'S-NORAD');
  add('2001:db8:0:400::/56', 'S-SHARED');
  add('2001:db8:0:500::/60', 'S-LEN');
  add('2001:db8:0:600::/56', 'S-TWO');
  add('2001:db8:0:700::/56', 'S-TWO');
  add('2001:db8:0:800::/56', 'S-LIVE');
  add('2001:db8:0:900::/56', null);

  const radius = new Database(join(dir, 'radius.db'));
  radius.exec(readFileSync(SCHEMA, 'utf8'));
  const reply = radius.prepare("INSERT INTO radreply (username, attribute, op, value) VALUES (?, 'Delegated-IPv6-Prefix', ':=', ?)");
  for (const [u, p] of [
    ['alice', '2001:db8:0:100::/56'], ['carol', '2001:db8:0:400::/56'], ['dave', '2001:db8:0:400::/56'], ['erin', '2001:db8:0:500::/60'],
    ['frank', '2001:db8:0:600::/56'], ['frank-2', '2001:db8:0:700::/56'], ['gina', '2001:db8:0:800::/56'], ['ivan', '2001:db8:0:900::/56'],
    ['hank', '2001:dead::/56'],
  ]) reply.run(u, p);
  radius.prepare("INSERT INTO radreply (username, attribute, op, value) VALUES ('alice', 'Framed-IP-Address', ':=', '192.0.2.1')").run();
  const acct = radius.prepare(
    "INSERT INTO radacct (acctsessionid, acctuniqueid, username, nasipaddress, acctstarttime, acctstoptime, delegatedipv6prefix) VALUES (?, ?, ?, '192.0.2.10', '2030-01-01 00:00:00', ?, ?)",
  );
  acct.run('s1', 'u1', 'alice', null, '2001:db8:0:100::/56');
  acct.run('s2', 'u2', 'bob', '2030-01-01 01:00:00', '2001:db8:0:200::/56');

  const db = openDatabase(join(dir, 'lifecycle.db'));
  const store = createLifecycleStore(db);
  const embedded = createEmbeddedIpam(db, [{ name: 'home', prefix: '2001:db9::/40', prefixLength: 56 }]);
  const ipam = createIpamRouter(new Map([['pd', harness.ipam], ['home', embedded]]));

  // The field readers adoption uses in production: FreeRADIUS's tables page by page (a small page,
  // so the paging is exercised), NetBox's prefixes under the pool parent with their marks.
  const reader = createRadiusFieldReader(radius);
  const radiusSource: RadiusFieldSource = {
    replies: () => reader.replies({ pageSize: 3 }),
    openSessions: () => reader.openSessions({ pageSize: 1 }),
  };
  const netbox = { fieldPrefixes: (signal?: AbortSignal) => harness.ipam.fieldPrefixes(signal) };
  const dump = () => JSON.stringify([radius.prepare('SELECT * FROM radreply ORDER BY id').all(), radius.prepare('SELECT * FROM radacct ORDER BY radacctid').all()]);
  return {
    harness,
    db,
    store,
    radius,
    deps: { pools: POOLS, store: asyncOf(store), ipam, netbox, radius: radiusSource },
    radiusDump: dump,
    async close() {
      radius.close();
      db.close();
      await harness.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
