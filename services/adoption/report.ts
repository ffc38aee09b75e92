import { setImmediate as nextTurn } from 'node:timers/promises';
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { parse } from 'csv-parse/sync';
import { stringify } from 'csv-stringify/sync';
import type { FileRecord, ImportReport } from './types.ts';

/** Entries serialised per turn of the event loop (~300 bytes, ~3 µs each). */
export const JSON_SLICE = 1000;

// The report as an operator works with it: the JSON document, and a CSV in the file source's
// columns plus `conflict`, to fix by hand and feed back as the file source.
// The CSV is opened in a spreadsheet, which runs a cell starting with = + - @ tab or CR as a formula,
// and names come from NetBox and RADIUS as any text: such cells get a leading ' (OWASP "CSV
// Injection"), csv-stringify's `escape_formulas`. That ' is a mark, not data: a cell that itself
// starts with ' gets one more (the `cast`, which runs before the escape), and fromCsv takes off
// exactly one ' before a character the writer escapes or before a second ', so a report fed back
// reads the names it was written from, and a hand-typed 'abc is read as it is.

// csv-stringify's escape_formulas list (lib/api/index.js, 6.x): = + - @ tab CR and the full-width = + - @.
const MARKED = /^'(?=['=+\-@\t\r\uFF1D\uFF0B\uFF0D\uFF20])/;

export const CSV_COLUMNS = ['subscriber_id', 'prefix', 'username', 'cpe_id', 'state', 'conflict'] as const;

export function toCsv(report: ImportReport): string {
  const rows = report.entries.map((e) => [e.subscriber_id, e.prefix, e.username, e.cpe_id, e.state, e.conflicts.map((c) => `${c.kind}: ${c.message}`).join('; ')]);
  return stringify(rows, {
    header: true,
    columns: [...CSV_COLUMNS],
    record_delimiter: 'windows',
    // With a record_delimiter given, csv-stringify 6.9 leaves a cell holding a lone \n or \r unquoted,
    // and fromCsv's trim then drops a leading or trailing \n of it.
    quote_record_delimiter: true,
    escape_formulas: true,
    cast: { object: () => '', string: (v) => (v.startsWith("'") ? `'${v}` : v) },
  });
}

/**
 * A CSV in the file source's columns, or the report's CSV an operator fixed by hand (it has the
 * `conflict` column): its rows with empty cells as absent values and the writer's leading ' taken
 * off. A report is read as its entries.
 */
export function fromCsv(text: string): Record<string, string | null>[] | { entries: Record<string, string | null>[] } {
  const rows = (parse(text, { columns: true, skip_empty_lines: true, trim: true, bom: true }) as Record<string, string>[]).map((r) =>
    Object.fromEntries(Object.entries(r).map(([k, v]) => [k, v === '' ? null : v.replace(MARKED, '')])),
  );
  return rows.length > 0 && 'conflict' in rows[0]! ? { entries: rows } : rows;
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

/**
 * JSON.stringify(report), byte for byte, in pieces of JSON_SLICE entries with a turn of the event
 * loop between them: the answer to 50,000 records is 14.5 MB, serialised in one ~150 ms turn (issue 10).
 */
export async function* jsonInSlices(report: ImportReport): AsyncGenerator<string, void, undefined> {
  const { entries, ...head } = report;
  // `entries` is the report's last key: the head's JSON, with `"entries":[` in place of its closing brace.
  yield `${JSON.stringify(head).slice(0, -1)}${Object.keys(head).length > 0 ? ',' : ''}"entries":[`;
  for (let i = 0; i < entries.length; i += JSON_SLICE) {
    await nextTurn();
    const piece = JSON.stringify(entries.slice(i, i + JSON_SLICE));
    yield `${i > 0 ? ',' : ''}${piece.slice(1, -1)}`;
  }
  yield ']}';
}
