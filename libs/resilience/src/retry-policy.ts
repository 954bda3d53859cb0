import { fullJitterBackoffMs } from './backoff';

/** How a caller retries a failing dependency call. All durations in milliseconds. */
export interface RetryPolicy {
  /** Total attempts, the first one included: 3 means at most 2 retries. */
  maxAttempts: number;
  /** Full-jitter backoff: base of the exponential ceiling… */
  baseMs: number;
  /** …and its cap. */
  capMs: number;
  /**
   * The longest provider-requested wait (Retry-After) we honour. A provider that
   * asks for more is treated as "not now": the caller gives up instead of
   * holding the work (and its lease or deadline) hostage.
   */
  maxRetryAfterMs: number;
}

export type RetryDecision = { retry: true; delayMs: number } | { retry: false; reason: string };

/**
 * Whether, and after how long, to retry after attempt number `attempt`
 * (1-based: the attempt that just failed) failed with a retryable error.
 *
 * - `attempt >= maxAttempts` → give up.
 * - A provider's Retry-After (`retryAfterMs`) is honoured exactly, but never
 *   beyond `maxRetryAfterMs`: a longer request gives up with a reason. A
 *   negative value is read as 0; NaN as absent.
 * - Otherwise full-jitter backoff for `attempt` (`random` injectable for tests).
 *
 * Pure: no clock, no sleeping — the caller waits `delayMs`.
 */
export function retryDecision(
  attempt: number,
  policy: RetryPolicy,
  opts: { retryAfterMs?: number; random?: () => number } = {},
): RetryDecision {
  if (attempt >= policy.maxAttempts) {
    return {
      retry: false,
      reason: `gave up after ${attempt} of ${policy.maxAttempts} attempts`,
    };
  }
  const { retryAfterMs, random } = opts;
  if (retryAfterMs !== undefined && !Number.isNaN(retryAfterMs)) {
    const delayMs = Math.max(0, Math.ceil(retryAfterMs));
    if (delayMs > policy.maxRetryAfterMs) {
      return {
        retry: false,
        reason:
          `the provider asked to retry after ${delayMs} ms, ` +
          `longer than the ${policy.maxRetryAfterMs} ms we are willing to wait`,
      };
    }
    return { retry: true, delayMs };
  }
  return {
    retry: true,
    delayMs: fullJitterBackoffMs(attempt, {
      baseMs: policy.baseMs,
      capMs: policy.capMs,
      ...(random ? { random } : {}),
    }),
  };
}
