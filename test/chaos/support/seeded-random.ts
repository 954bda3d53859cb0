import { chaosSeed, seeded } from './random';

/**
 * Draw helpers over the suite's seeded PRNG (random.ts): the seed is printed
 * so a failing mix can be replayed (`KEEL_CHAOS_SEED=<n> npx jest <file>`).
 */
export interface SeededRandom {
  readonly seed: number;
  /** Uniform integer in [min, max]. */
  int(min: number, max: number): number;
  pick<T>(items: readonly T[]): T;
  /** An item chosen with the given relative weights. */
  weighted<T>(items: readonly (readonly [T, number])[]): T;
}

export function seededRandom(label: string): SeededRandom {
  const seed = chaosSeed();
  process.stdout.write(`[chaos] ${label}: KEEL_CHAOS_SEED=${seed}\n`);
  const next = seeded(seed);
  const int = (min: number, max: number) => min + Math.floor(next() * (max - min + 1));
  return {
    seed,
    int,
    pick: (items) => {
      if (items.length === 0) throw new RangeError('pick from an empty list');
      return items[int(0, items.length - 1)]!;
    },
    weighted: (items) => {
      const total = items.reduce((n, [, w]) => n + w, 0);
      let r = next() * total;
      for (const [item, w] of items) {
        r -= w;
        if (r < 0) return item;
      }
      return items[items.length - 1]![0];
    },
  };
}
