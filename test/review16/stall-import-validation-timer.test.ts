// Issue 10: POST /import parsed its body (http/body.ts) and validated it with zod in one turn of the
// event loop. The handler waits for a timer between: a timer set by the time the body is parsed has
// fired before the body is validated. (An immediate would not do: after the poll phase, where the
// body ends, the check phase runs before the loop's timers.)
import { suite } from 'uvu';
import * as assert from 'uvu/assert';
import type { Context } from 'koa';
import { importRoutes, type Importer } from '../../http/routes/import.ts';

const test = suite('stall: POST /import validates after a timer');

test('the body is read for validation only after a timer set before the handler ran has fired', async () => {
  let timerFired = false;
  let firedBeforeRead: boolean | null = null;
  const importer: Importer = async () => ({ dry_run: true, generated_at: '2026-01-01T00:00:00.000Z', sources: ['file'], summary: { entries: 0, adopt: 0, adopted: 0, conflict: 0, conflicts_by_kind: {} }, applied: null, entries: [] });
  const route = importRoutes(importer)[0]!;
  const ctx = {
    query: {},
    state: {},
    request: {
      get body() {
        firedBeforeRead ??= timerFired;
        return { sources: { file: { records: [] } } };
      },
    },
  } as unknown as Context;
  // As the body parser's last step would: the parse is done, a timer is due.
  setTimeout(() => (timerFired = true), 0);
  await route.handler(ctx as never);
  assert.is(firedBeforeRead, true);
  assert.is((ctx as { type?: string }).type, 'application/json; charset=utf-8');
});

test.run();
