import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { createEmbeddedIpam } from '../../services/ipam/embedded.ts';
import { createFakeIpam } from '../../services/ipam/fake.ts';
import { openDatabase } from '../../store/db.ts';
import { ipamContract } from './ipam-suite.ts';

// A real file rather than ':memory:' so WAL mode and the migrations run as in production.
ipamContract('embedded', async (pools) => {
  const dir = mkdtempSync(join(tmpdir(), 'ipam-contract-'));
  const db = openDatabase(join(dir, 'lifecycle.db'));
  return {
    // The contract gives a released block back at once; the hold-down has its own tests in test/services/ipam.
    ipam: createEmbeddedIpam(db, pools.map((p) => ({ ...p, holdDownS: 0 }))),
    pools: [...pools],
    close() {
      db.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
});

ipamContract('fake', async (pools) => ({ ipam: createFakeIpam([...pools]), pools: [...pools], close() {} }));
