// Runs every test with uvu, then ends with the plain line `N passed, N failed, N skipped`, which CI
// reads to tell a run that tested nothing from a green one (uvu's own summary is not one it knows).
import { parse } from 'uvu/parse';
import { run } from 'uvu/run';

const pattern = process.argv[2] ?? '\\.test\\.ts$';
let printed = '';
const write = process.stdout.write.bind(process.stdout);
process.stdout.write = ((chunk: string | Uint8Array, ...rest: never[]) => {
  printed += typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
  if (printed.length > 4096) printed = printed.slice(-4096);
  return write(chunk, ...rest);
}) as typeof process.stdout.write;

const ctx = await parse('test', pattern, {});
await run(ctx.suites, { bail: false });
process.stdout.write = write;

// eslint-disable-next-line no-control-regex
const plain = printed.replace(/\x1b\[[0-9;]*m/g, '');
const count = (label: string) => Number(new RegExp(`${label}:\\s+(\\d+)`).exec(plain)?.[1] ?? NaN);
const [total, passed, skipped] = [count('Total'), count('Passed'), count('Skipped')];
if ([total, passed, skipped].some(Number.isNaN)) {
  console.log('0 passed, 1 failed (the test run ended before uvu printed its summary)');
  process.exitCode = 1;
} else {
  const failed = Math.max(0, total - passed - skipped);
  console.log(`${passed} passed, ${failed} failed, ${skipped} skipped`);
  if (failed > 0) process.exitCode = 1;
}
