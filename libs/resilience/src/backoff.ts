/**
 * Exponential backoff with "full jitter": a uniformly random delay in
 * [0, min(cap, base * 2^(attempt-1))]. Full jitter spreads retries of many
 * messages that failed together (a dependency outage) instead of making them
 * retry in lock-step.
 *
 * `attempt` is 1-based (the delivery count for a consumer).
 */
export function fullJitterBackoffMs(
  attempt: number,
  {
    baseMs = 200,
    capMs = 30_000,
    random = Math.random,
  }: { baseMs?: number; capMs?: number; random?: () => number } = {},
): number {
  const exp = Math.max(0, Math.min(attempt - 1, 30));
  const ceiling = Math.min(capMs, baseMs * 2 ** exp);
  return Math.floor(random() * ceiling);
}
