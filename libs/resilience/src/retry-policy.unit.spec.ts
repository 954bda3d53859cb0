import { retryDecision, type RetryPolicy } from './retry-policy';

const policy: RetryPolicy = { maxAttempts: 3, baseMs: 100, capMs: 1000, maxRetryAfterMs: 5000 };

describe('retryDecision', () => {
  describe('given attempts are left', () => {
    it('when no Retry-After is given, then it backs off with full jitter for that attempt', () => {
      expect(retryDecision(1, policy, { random: () => 0.5 })).toEqual({ retry: true, delayMs: 50 });
      expect(retryDecision(2, policy, { random: () => 0.5 })).toEqual({
        retry: true,
        delayMs: 100,
      });
    });

    it('then the jitter stays within [0, min(cap, base * 2^(attempt-1)))', () => {
      const wide: RetryPolicy = { ...policy, maxAttempts: 100 };
      for (const attempt of [1, 2, 3, 4, 5, 10, 50]) {
        const ceiling = Math.min(wide.capMs, wide.baseMs * 2 ** (attempt - 1));
        const low = retryDecision(attempt, wide, { random: () => 0 });
        const high = retryDecision(attempt, wide, { random: () => 0.999999 });
        expect(low).toEqual({ retry: true, delayMs: 0 });
        expect(high).toEqual({ retry: true, delayMs: ceiling - 1 });
      }
    });

    it('when random is not injected, then the delay is still within bounds', () => {
      for (let i = 0; i < 100; i++) {
        const d = retryDecision(2, policy);
        if (!d.retry) throw new Error('expected a retry');
        expect(d.delayMs).toBeGreaterThanOrEqual(0);
        expect(d.delayMs).toBeLessThan(200);
      }
    });

    it('when the provider sends a Retry-After within the limit, then it is honoured exactly', () => {
      const random = jest.fn(() => 0.5);
      expect(retryDecision(1, policy, { retryAfterMs: 4000, random })).toEqual({
        retry: true,
        delayMs: 4000,
      });
      expect(retryDecision(1, policy, { retryAfterMs: 5000 })).toEqual({
        retry: true,
        delayMs: 5000,
      });
      expect(random).not.toHaveBeenCalled();
    });

    it('when the Retry-After is zero or negative, then it retries at once', () => {
      expect(retryDecision(1, policy, { retryAfterMs: 0 })).toEqual({ retry: true, delayMs: 0 });
      expect(retryDecision(1, policy, { retryAfterMs: -20 })).toEqual({ retry: true, delayMs: 0 });
    });

    it('when the Retry-After is longer than maxRetryAfterMs, then it gives up and says why', () => {
      const d = retryDecision(1, policy, { retryAfterMs: 5001 });
      expect(d.retry).toBe(false);
      expect(!d.retry && d.reason).toMatch(/5001 ms.*5000 ms/);
      expect(retryDecision(1, policy, { retryAfterMs: Infinity }).retry).toBe(false);
    });

    it('when the Retry-After is NaN, then it falls back to backoff', () => {
      expect(retryDecision(1, policy, { retryAfterMs: NaN, random: () => 0.5 })).toEqual({
        retry: true,
        delayMs: 50,
      });
    });
  });

  describe('given the last allowed attempt failed', () => {
    it('then it gives up, even when a Retry-After is given', () => {
      const d = retryDecision(3, policy, { retryAfterMs: 10, random: () => 0 });
      expect(d.retry).toBe(false);
      expect(!d.retry && d.reason).toContain('3 of 3 attempts');
      expect(retryDecision(4, policy).retry).toBe(false);
    });

    it('with maxAttempts 1, then the first failure is final', () => {
      expect(retryDecision(1, { ...policy, maxAttempts: 1 }).retry).toBe(false);
    });
  });
});
