import { fullJitterBackoffMs as fromResilience } from '@keel/resilience';
import { fullJitterBackoffMs, sleep } from './backoff';

// The backoff formula itself is tested in libs/resilience.
describe('backoff', () => {
  it('re-exports fullJitterBackoffMs from @keel/resilience', () => {
    expect(fullJitterBackoffMs).toBe(fromResilience);
  });

  describe('sleep', () => {
    beforeEach(() => jest.useFakeTimers());
    afterEach(() => jest.useRealTimers());

    it('resolves after the delay', async () => {
      let done = false;
      const slept = sleep(1000).then(() => (done = true));
      await jest.advanceTimersByTimeAsync(999);
      expect(done).toBe(false);
      await jest.advanceTimersByTimeAsync(1);
      await slept;
      expect(done).toBe(true);
    });

    it('resolves early when the signal aborts, and at once when it already has', async () => {
      const controller = new AbortController();
      let done = false;
      const slept = sleep(60_000, controller.signal).then(() => (done = true));
      await jest.advanceTimersByTimeAsync(10);
      expect(done).toBe(false);
      controller.abort();
      await slept;
      expect(done).toBe(true);
      expect(jest.getTimerCount()).toBe(0);

      await sleep(60_000, controller.signal);
      expect(jest.getTimerCount()).toBe(0);
    });
  });
});
