// Tests that need a command-line tool (promtool, Graphviz `dot`) call `toolAvailable` first. A
// missing tool is never a silent pass: under CI=true the test fails; elsewhere a banner says which
// test did not run and how to install what it needs.
import { spawnSync } from 'node:child_process';

/** True when `command probeArgs…` exits 0. */
export function hasTool(command: string, probeArgs: string[] = ['--version']): boolean {
  return spawnSync(command, probeArgs, { stdio: 'ignore' }).status === 0;
}

/** Prints the banner every skipped test shows (stderr, so it stands out from uvu's dots). */
export function warnSkipped(what: string, reason: string, install: string): void {
  const bar = '!'.repeat(78);
  console.warn(`\n${bar}\n!! SKIPPED ${what}: ${reason}.\n!! ${install} (this test FAILS when CI=true)\n${bar}\n`);
}

/**
 * Call inside a test: true when the tool runs. Otherwise throws under CI=true (CI must never pass
 * by skipping) and, elsewhere, prints the banner and returns false so the test returns early.
 */
export function toolAvailable(what: string, command: string, install: string, opts: { probeArgs?: string[]; env?: NodeJS.ProcessEnv } = {}): boolean {
  if (hasTool(command, opts.probeArgs)) return true;
  const reason = `\`${command}\` is not installed`;
  if ((opts.env ?? process.env).CI === 'true') throw new Error(`${what}: ${reason} and CI=true; ${install}`);
  warnSkipped(what, reason, install);
  return false;
}
