/**
 * The chaos seed: `KEEL_CHAOS_SEED` when set (to replay a failure), else a
 * fresh one. Scenarios print it so any failing run can be reproduced.
 */
export function chaosSeed(): number {
  const given = process.env.KEEL_CHAOS_SEED;
  if (given !== undefined && given !== '') {
    const n = Number(given);
    if (!Number.isInteger(n)) throw new Error(`KEEL_CHAOS_SEED must be an integer, got '${given}'`);
    return n;
  }
  return Math.floor(Math.random() * 2 ** 31);
}

/** Small seeded PRNG (mulberry32): the same seed gives the same fault schedule. */
export function seeded(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}
