// Issue 10: no scheduled job or clean-up holds the event loop more than 50 ms, at ISP size. The
// service composed as main.ts does on the embedded default, over a database of N held lifecycles
// (bench/scans.ts fillHeld) plus revoked ones past retention with an audit trail past pruning; then
// each job run on demand, a /metrics scrape and a POST /import of a file of records, each under
// perf_hooks.monitorEventLoopDelay (bench/scans.ts timed).
//   STALL_HELD=200000 STALL_IMPORT=50000 node --import tsx bench/stalls.ts [file]
// STALL_JOBS=reconcile,leaks: only those jobs (scrape and import only when named). STALL_PENDING=N: then the pending
// worker's pass over N due steps (bench/scans.ts benchPending: the idle pass above has nothing due).
// A file given is built once and kept; each run works on a copy.
import { copyFileSync, existsSync } from 'node:fs';
import { request, type Server } from 'node:http';
import { join } from 'node:path';
import pino from 'pino';
import { compose } from '../compose.ts';
import { parseConfig } from '../config.ts';
import { formatPrefix, nthSubnet } from '../services/ipv6.ts';
import { openDatabase } from '../store/db.ts';
import { UPSERT_LIFECYCLE } from '../store/lifecycles.ts';
import { API_BASE } from '../http/routes/route.ts';
import { benchPending, fillHeld, heldRow, SCAN_POOL, timed, type Timed } from './scans.ts';
import { BENCH_POOL, instantPorts, scratchDir } from './support.ts';

const DAY = 86_400_000;

/** `held` held lifecycles, then `revoked` revoked 200 days ago, each with 3 audit entries as old. */
export function buildField(file: string, held: number, revoked: number): void {
  const db = openDatabase(file);
  fillHeld(db, held);
  const upsert = db.prepare(UPSERT_LIFECYCLE);
  const audit = db.prepare('INSERT INTO audit (lifecycle_id, subscriber_id, at, type, from_state, to_state, detail) VALUES (?, ?, ?, ?, ?, ?, NULL)');
  const old = new Date(Date.now() - 200 * DAY).toISOString();
  db.transaction(() => {
    for (let i = 0; i < revoked; i++) {
      const r = heldRow(held + i, old);
      const id = `old-${String(i).padStart(8, '0')}`;
      upsert.run({ ...r, id, state: 'revoked', prefix: null, revoked_at: old, snapshot: r.snapshot.replace('"active"', '"revoked"').split(r.id).join(id) });
      for (const [from, to] of [[null, 'allocated'], ['allocated', 'active'], ['active', 'revoked']]) audit.run(id, r.subscriber_id, old, 'transition', from, to);
    }
  })();
  db.close();
}

function call(server: Server, token: string, method: string, path: string, body?: string): Promise<{ status: number; bytes: number }> {
  const { port } = server.address() as { port: number };
  return new Promise((resolve, reject) => {
    const req = request({ port, method, path, headers: { authorization: `Bearer ${token}`, ...(body ? { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } : {}) } }, (res) => {
      let bytes = 0;
      res.on('data', (c: Buffer) => (bytes += c.length));
      res.on('end', () => resolve({ status: res.statusCode!, bytes }));
    });
    req.on('error', reject);
    req.end(body);
  });
}

export async function benchStalls(held: number, importN: number, kept?: string): Promise<Record<string, Timed & { note: string }>> {
  const scratch = scratchDir();
  const built = kept ?? join(scratch.dir, 'built.sqlite');
  if (!existsSync(built)) buildField(built, held, Math.round(held / 10));
  const file = join(scratch.dir, 'stalls.sqlite');
  copyFileSync(built, file);
  const config = parseConfig({
    database: file,
    pools: [BENCH_POOL],
    api: { body_limit_bytes: 10 * 1024 * 1024 },
    jobs: { cleanup: { retention_days: 90, audit_retention_days: 30 } },
    log: { level: 'silent' },
  });
  const { ipam: _fake, ...ports } = instantPorts();
  const c = await compose(config, { log: pino({ level: 'silent' }), overrides: ports });
  const server = c.app.listen(0);
  const out: Record<string, Timed & { note: string }> = {};
  try {
    await c.start();
    const only = process.env.STALL_JOBS?.split(',');
    for (const name of ['leaks', 'cleanup', 'pending', 'reconcile'] as const) {
      if (only && !only.includes(name)) continue;
      let note = '';
      const t = await timed(async () => {
        const r = await c.jobs.run(name);
        note = JSON.stringify((r as { counts?: unknown }).counts ?? r).slice(0, 200);
      });
      out[name] = { ...t, note };
    }
    // STALL_JOBS=import (as BENCHMARKS.md gives it) returned here, before the import it names.
    if (only && !only.includes('import')) return out;
    await call(server, c.token, 'GET', '/metrics');
    let scraped = { status: 0, bytes: 0 };
    if (!only || only.includes('scrape')) out.scrape = { ...(await timed(async () => (scraped = await call(server, c.token, 'GET', '/metrics')))), note: JSON.stringify(scraped) };
    // Free blocks after the held ones: a field of subscribers the service does not know yet.
    const from = held + Math.round(held / 10) + 1000;
    const records = Array.from({ length: importN }, (_, i) => ({
      subscriber_id: `imp-${i}`,
      prefix: formatPrefix(nthSubnet(SCAN_POOL.prefix, SCAN_POOL.prefixLength, from + i)),
      username: `imp-${i}@isp.example`,
      state: 'active',
    }));
    const body = JSON.stringify({ sources: { file: { records } } });
    let imported = { status: 0, bytes: 0 };
    out.import = { ...(await timed(async () => (imported = await call(server, c.token, 'POST', `${API_BASE}/import?dry_run=false`, body)))), note: `${(body.length / 1e6).toFixed(1)} MB: ${JSON.stringify(imported)}` };
  } finally {
    server.close();
    await c.stop();
    scratch.remove();
  }
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const held = Number(process.env.STALL_HELD ?? 200_000);
  const figures = await benchStalls(held, Number(process.env.STALL_IMPORT ?? 50_000), process.argv[2]);
  const pendingN = Number(process.env.STALL_PENDING ?? 0);
  if (pendingN > 0) {
    const p = await benchPending(pendingN);
    figures.pending_due = { ms: p.passMs, maxStallMs: p.maxStallMs, maxSliceCpuMs: p.maxSliceCpuMs, note: `${p.completed} of ${pendingN} due steps done` };
  }
  for (const [job, t] of Object.entries(figures)) {
    console.log(`${job.padEnd(10)} ${t.ms.toFixed(0).padStart(7)} ms  stall ${t.maxStallMs.toFixed(1).padStart(6)} ms  cpu slice ${t.maxSliceCpuMs.toFixed(1).padStart(6)} ms  ${t.note}`);
  }
}
