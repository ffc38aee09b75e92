/** Counts turns of the event loop (setImmediate callbacks) while `work` runs: 0 means it never yielded. */
export async function turnsDuring(work: () => Promise<unknown>): Promise<number> {
  let turns = 0;
  let on = true;
  const tick = () => {
    if (!on) return;
    turns++;
    setImmediate(tick);
  };
  setImmediate(tick);
  try {
    await work();
  } finally {
    on = false;
  }
  return turns;
}

/**
 * One record per turn of the event loop from now until `stop()`: `turns` holds them in order and
 * `now()` is the current turn's, for the instrumented code to add to. A test then asserts on the most
 * any one turn did.
 */
export function perTurn<T>(fresh: () => T): { turns: T[]; now: () => T; stop: () => void } {
  const turns = [fresh()];
  let on = true;
  const tick = () => {
    if (!on) return;
    turns.push(fresh());
    setImmediate(tick);
  };
  setImmediate(tick);
  return { turns, now: () => turns[turns.length - 1]!, stop: () => void (on = false) };
}

/** perTurn for one count: `count()` adds one to the current turn's; `turns` reads the counts. */
export function countPerTurn(): { readonly turns: number[]; count: () => void; stop: () => void } {
  const t = perTurn(() => ({ n: 0 }));
  return {
    get turns() {
      return t.turns.map((x) => x.n);
    },
    count: () => void t.now().n++,
    stop: t.stop,
  };
}
