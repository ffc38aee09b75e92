// The soak test's one source of chance: a seeded PRNG (mulberry32), so a failing run can be
// replayed with its seed. Timing between concurrent clients still varies from run to run; the seed
// fixes every choice the test makes (subscribers, operations, faults, kill moments).

export interface Random {
  /** A float in [0, 1). */
  next(): number;
  /** An integer in [min, max]. */
  int(min: number, max: number): number;
  pick<T>(items: readonly T[]): T;
  /** An entry chosen by weight; entries of weight 0 are never chosen. */
  weighted<T extends string>(weights: Partial<Record<T, number>>): T;
  chance(p: number): boolean;
  /** A copy of `items` in an order fixed by the seed (Fisher-Yates). */
  shuffle<T>(items: readonly T[]): T[];
  /** An independent generator derived from this one (one per client, so clients do not share a stream). */
  fork(): Random;
}

export function createRandom(seed: number): Random {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const r: Random = {
    next,
    int: (min, max) => min + Math.floor(next() * (max - min + 1)),
    pick: (items) => items[Math.floor(next() * items.length)]!,
    weighted(weights) {
      const entries = Object.entries(weights) as Array<[string, number]>;
      const total = entries.reduce((n, [, w]) => n + w, 0);
      let x = next() * total;
      for (const [k, w] of entries) {
        if ((x -= w) < 0) return k as never;
      }
      return entries.at(-1)![0] as never;
    },
    chance: (p) => next() < p,
    shuffle(items) {
      const out = [...items];
      for (let i = out.length - 1; i > 0; i--) {
        const j = Math.floor(next() * (i + 1));
        [out[i], out[j]] = [out[j]!, out[i]!];
      }
      return out;
    },
    fork: () => createRandom(Math.floor(next() * 2 ** 32)),
  };
  return r;
}
