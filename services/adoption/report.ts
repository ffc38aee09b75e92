import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FileRecord, ImportReport } from './types.ts';

// The report as an operator works with it: the JSON document, and a CSV in the file source's
// columns plus `conflict`, to fix by hand and feed back as the file source.

export const CSV_COLUMNS = ['subscriber_id', 'prefix', 'username', 'cpe_id', 'state', 'conflict'] as const;

/** RFC 4180: a field with a comma, quote or line break is quoted, quotes doubled. */
function field(v: string | null): string {
  const s = v ?? '';
  return /[",\r\n]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

export function toCsv(report: ImportReport): string {
  const lines = [CSV_COLUMNS.join(',')];
  for (const e of report.entries) {
    const conflict = e.conflicts.map((c) => `${c.kind}: ${c.message}`).join('; ');
    lines.push([e.subscriber_id, e.prefix, e.username, e.cpe_id, e.state, conflict].map(field).join(','));
  }
  return `${lines.join('\r\n')}\r\n`;
}

/** The entries in the file source's form: the JSON report itself can be fed back as the file. */
export function asRecords(report: ImportReport): FileRecord[] {
  return report.entries
    .filter((e) => e.subscriber_id !== null)
    .map((e) => ({ subscriber_id: e.subscriber_id!, prefix: e.prefix, username: e.username, cpe_id: e.cpe_id, state: e.state }));
}

/** Writes `import-<time>.json` and `.csv` into `dir`; returns the JSON file's path. */
export function writeReport(report: ImportReport, dir: string): { json: string; csv: string } {
  mkdirSync(dir, { recursive: true });
  const base = join(dir, `import-${report.generated_at.replace(/[:.]/g, '-')}${report.dry_run ? '-dry-run' : ''}`);
  const paths = { json: `${base}.json`, csv: `${base}.csv` };
  writeFileSync(paths.json, `${JSON.stringify(report, null, 2)}\n`);
  writeFileSync(paths.csv, toCsv(report));
  return paths;
}
