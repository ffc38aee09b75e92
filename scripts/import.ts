// `npm run import -- …`: the brownfield import of POST /import from a shell, with the service
// stopped (the database takes one process at a time). Writes the report as JSON and CSV and prints
// where; a dry run unless --apply.
import { readFileSync } from 'node:fs';
import { parseArgs } from 'node:util';
import pino from 'pino';
import { z } from 'zod';
import { compose } from '../compose.ts';
import { loadConfig } from '../config.ts';
import { fileRecord } from '../http/routes/import.ts';
import { fromCsv, writeReport } from '../services/adoption/report.ts';
import type { FileRecord, ImportSources, SubscriberRule } from '../services/adoption/types.ts';
import { loggerOptions } from '../runtime/log-context.ts';

export const HELP = `ipv6-lifecycle import: adopt the prefixes already in the field (docs/adoption.md)
Usage: npm run import -- [options]     (the service must be stopped: the database takes one process)

Sources (at least one):
      --netbox <rule>         the prefixes NetBox holds inside each NetBox pool's parent; the rule
                              names the subscriber: custom_field:<name>, tenant[:name|slug|id]
                              (default name), or description:<regex> (first capture group)
      --radius                FreeRADIUS radreply rows with Delegated-IPv6-Prefix and open radacct
                              sessions (radius.sql); only read
      --no-sessions           with --radius: leave radacct out
      --file <records>        a JSON array of {subscriber_id, prefix, username?, cpe_id?, state?},
                              a CSV with those columns (a .csv file), or a report of an earlier
                              run (its .json or .csv), fixed by hand
Options:
  -c, --config <file>         configuration file (default: $IPV6_LIFECYCLE_CONFIG)
      --apply                 apply the plan (default: a dry run that changes nothing)
      --subscriber-from-username
                              a prefix nothing else names the subscriber of takes its RADIUS username
      --batch-size <n>        subscribers committed per transaction (default 500)
      --out <dir>             where the report goes (default: the current directory)
  -h, --help                  show this help
Prints the report's paths and a summary. Exit status: 0 done (conflicts are in the report),
1 failed (the message says why; a run killed or failed midway is finished by running it again).`;

/** `custom_field:x`, `tenant[:name|slug|id]`, `description:<regex>` → the rule. */
export function parseRule(text: string): SubscriberRule {
  const at = text.indexOf(':');
  const [kind, arg] = at < 0 ? [text, ''] : [text.slice(0, at), text.slice(at + 1)];
  if (kind === 'custom_field' && arg) return { custom_field: arg };
  if (kind === 'tenant' && ['', 'name', 'slug', 'id'].includes(arg)) return { tenant: (arg || 'name') as 'name' | 'slug' | 'id' };
  if (kind === 'description' && arg) return { description: arg };
  throw new Error(`--netbox ${text}: give custom_field:<name>, tenant[:name|slug|id] or description:<regex>`);
}

/** The file source: records, or an earlier report whose entries an operator fixed. */
export function readRecords(file: string): FileRecord[] {
  const text = readFileSync(file, 'utf8');
  // A CSV is the report's CSV (or the same columns written by hand); anything else is JSON.
  const raw = (file.toLowerCase().endsWith('.csv') ? fromCsv(text) : JSON.parse(text)) as unknown;
  const list = Array.isArray(raw) ? raw : ((raw as { entries?: unknown })?.entries as unknown[] | undefined);
  if (!Array.isArray(list)) throw new Error(`--file ${file}: expected a CSV or JSON array of records, or a report with entries`);
  const picked = Array.isArray(raw)
    ? list
    : list.filter((e) => (e as { subscriber_id?: unknown }).subscriber_id).map((e) => {
        const { subscriber_id, prefix, username, cpe_id, state } = e as Record<string, unknown>;
        return { subscriber_id, prefix, username, cpe_id, state };
      });
  const parsed = z.array(fileRecord).safeParse(picked);
  if (!parsed.success) {
    const issue = parsed.error.issues[0]!;
    throw new Error(`--file ${file}: record ${issue.path.join('.')}: ${issue.message}`);
  }
  return parsed.data;
}

async function main(): Promise<void> {
  const { values } = parseArgs({
    options: {
      config: { type: 'string', short: 'c' },
      netbox: { type: 'string' },
      radius: { type: 'boolean' },
      'no-sessions': { type: 'boolean' },
      file: { type: 'string' },
      apply: { type: 'boolean' },
      'subscriber-from-username': { type: 'boolean' },
      'batch-size': { type: 'string' },
      out: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
  if (values.help) {
    process.stdout.write(`${HELP}\n`);
    return;
  }
  const sources: ImportSources = {
    ...(values.netbox ? { netbox: { subscriber: parseRule(values.netbox) } } : {}),
    ...(values.radius ? { radius: { sessions: !values['no-sessions'] } } : {}),
    ...(values.file ? { file: { records: readRecords(values.file) } } : {}),
  };
  const batch = values['batch-size'] === undefined ? undefined : Number(values['batch-size']);
  if (batch !== undefined && !(Number.isInteger(batch) && batch >= 1)) throw new Error('--batch-size must be a positive integer');
  const config = loadConfig(values.config ?? process.env.IPV6_LIFECYCLE_CONFIG, process.env);
  // Logs to stderr: stdout is the report's paths and summary.
  const svc = await compose(config, { log: pino(loggerOptions(config.log.level), pino.destination(2)) });
  try {
    const report = await svc.importer({
      sources,
      options: { subscriber_from_username: values['subscriber-from-username'] === true, ...(batch ? { batch_size: batch } : {}) },
      dryRun: values.apply !== true,
    });
    const paths = writeReport(report, values.out ?? '.');
    const s = report.summary;
    process.stdout.write(`${paths.json}\n${paths.csv}\n`);
    process.stdout.write(`${report.dry_run ? 'dry run' : 'applied'}: ${s.entries} entries, ${s.adopt} to adopt, ${s.adopted} adopted already, ${s.conflict} in conflict`);
    process.stdout.write(report.applied ? `; adopted now ${report.applied.adopted}, failed ${report.applied.failed.length}\n` : '\n');
  } finally {
    await svc.stop();
  }
}

if (import.meta.url === `file://${process.argv[1]}`) {
  main().catch((err: unknown) => {
    process.stderr.write(`import: ${err instanceof Error ? err.message : String(err)}\n`);
    process.exitCode = 1;
  });
}
