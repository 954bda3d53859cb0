import {
  CircuitBreaker,
  HALF_OPEN_RETRY_IN_MS,
  type BreakerTransition,
  type CircuitBreakerOptions,
} from './circuit-breaker';

const T0 = Date.parse('2026-11-21T10:00:00Z');
const options: CircuitBreakerOptions = { failureThreshold: 3, coolDownMs: 10_000 };

function setup(opts: CircuitBreakerOptions = options) {
  let t = T0;
  const transitions: BreakerTransition[] = [];
  const breaker = new CircuitBreaker('openai', opts, {
    now: () => t,
    onTransition: (tr) => transitions.push(tr),
  });
  const advance = (ms: number) => {
    t += ms;
  };
  const failTimes = (n: number, reason = 'HTTP 503') => {
    for (let i = 0; i < n; i++) breaker.recordFailure(reason);
  };
  return { breaker, transitions, advance, failTimes, now: () => t };
}

describe('CircuitBreaker', () => {
  describe('given a closed breaker', () => {
    it('then calls are allowed and it reports a clean snapshot', () => {
      const { breaker, transitions } = setup();
      expect(breaker.state).toBe('closed');
      expect(breaker.check()).toEqual({ allowed: true, probe: false });
      expect(breaker.snapshot()).toEqual({
        name: 'openai',
        state: 'closed',
        since: T0,
        consecutiveFailures: 0,
      });
      expect(transitions).toEqual([]);
    });

    it('when failures stay below the threshold, then it stays closed', () => {
      const { breaker, failTimes, transitions } = setup();
      failTimes(2);
      expect(breaker.state).toBe('closed');
      expect(breaker.snapshot().consecutiveFailures).toBe(2);
      expect(breaker.check()).toEqual({ allowed: true, probe: false });
      expect(transitions).toEqual([]);
    });

    it('when a success comes between failures, then the count starts again', () => {
      const { breaker, failTimes } = setup();
      failTimes(2);
      breaker.recordSuccess();
      expect(breaker.snapshot().consecutiveFailures).toBe(0);
      failTimes(2);
      expect(breaker.state).toBe('closed');
    });

    it('when failures reach the threshold, then it opens with the last failure as reason', () => {
      const { breaker, transitions, advance } = setup();
      breaker.recordFailure('HTTP 503');
      breaker.recordFailure('HTTP 502');
      advance(5);
      breaker.recordFailure('timeout after 30000 ms');
      expect(breaker.state).toBe('open');
      expect(transitions).toEqual([
        {
          name: 'openai',
          from: 'closed',
          to: 'open',
          reason: 'timeout after 30000 ms',
          at: T0 + 5,
        },
      ]);
      expect(breaker.snapshot()).toEqual({
        name: 'openai',
        state: 'open',
        since: T0 + 5,
        reason: 'timeout after 30000 ms',
        consecutiveFailures: 3,
      });
    });
  });

  describe('given an open breaker', () => {
    it('when the cool-down has not passed, then calls are refused with the time left', () => {
      const { breaker, failTimes, advance } = setup();
      failTimes(3);
      expect(breaker.check()).toEqual({ allowed: false, retryInMs: 10_000, state: 'open' });
      advance(9_999);
      expect(breaker.check()).toEqual({ allowed: false, retryInMs: 1, state: 'open' });
      expect(breaker.state).toBe('open');
    });

    it('when late outcomes arrive, then they are ignored', () => {
      const { breaker, failTimes, transitions, advance } = setup();
      failTimes(3);
      advance(1_000);
      breaker.recordSuccess();
      breaker.recordFailure('late');
      expect(breaker.state).toBe('open');
      expect(breaker.snapshot()).toMatchObject({ since: T0, reason: 'HTTP 503' });
      expect(transitions).toHaveLength(1);
    });

    it('when the cool-down has passed, then it goes half-open and lets exactly one probe through', () => {
      const { breaker, failTimes, transitions, advance } = setup();
      failTimes(3);
      advance(10_000);
      expect(breaker.check()).toEqual({ allowed: true, probe: true });
      expect(breaker.state).toBe('half_open');
      expect(transitions.at(-1)).toEqual({
        name: 'openai',
        from: 'open',
        to: 'half_open',
        reason: 'cool-down of 10000 ms elapsed',
        at: T0 + 10_000,
      });

      expect(breaker.check()).toEqual({
        allowed: false,
        retryInMs: HALF_OPEN_RETRY_IN_MS,
        state: 'half_open',
      });
      advance(100);
      expect(breaker.check()).toMatchObject({ allowed: false, state: 'half_open' });
      expect(transitions).toHaveLength(2);
    });
  });

  describe('given a half-open breaker with a probe in flight', () => {
    function halfOpen() {
      const s = setup();
      s.failTimes(3);
      s.advance(10_000);
      expect(s.breaker.check()).toEqual({ allowed: true, probe: true });
      return s;
    }

    it('when the probe succeeds, then it closes and the count is reset', () => {
      const { breaker, transitions, advance } = halfOpen();
      advance(200);
      breaker.recordSuccess();
      expect(breaker.state).toBe('closed');
      expect(breaker.check()).toEqual({ allowed: true, probe: false });
      expect(breaker.snapshot()).toEqual({
        name: 'openai',
        state: 'closed',
        since: T0 + 10_200,
        reason: 'probe succeeded',
        consecutiveFailures: 0,
      });
      expect(transitions.map((t) => [t.from, t.to, t.reason])).toEqual([
        ['closed', 'open', 'HTTP 503'],
        ['open', 'half_open', 'cool-down of 10000 ms elapsed'],
        ['half_open', 'closed', 'probe succeeded'],
      ]);

      // A fresh threshold applies after closing.
      breaker.recordFailure('HTTP 500');
      breaker.recordFailure('HTTP 500');
      expect(breaker.state).toBe('closed');
    });

    it('when the probe fails, then it re-opens with a fresh cool-down', () => {
      const { breaker, transitions, advance } = halfOpen();
      advance(300);
      breaker.recordFailure('HTTP 429');
      expect(breaker.state).toBe('open');
      expect(transitions.at(-1)).toEqual({
        name: 'openai',
        from: 'half_open',
        to: 'open',
        reason: 'HTTP 429',
        at: T0 + 10_300,
      });
      expect(breaker.check()).toEqual({ allowed: false, retryInMs: 10_000, state: 'open' });
      advance(9_999);
      expect(breaker.check()).toMatchObject({ allowed: false, retryInMs: 1 });
      advance(1);
      expect(breaker.check()).toEqual({ allowed: true, probe: true });
      expect(transitions.map((t) => t.to)).toEqual(['open', 'half_open', 'open', 'half_open']);
    });

    it('when the probe outcome is never reported, then another probe is allowed after the cool-down', () => {
      const { breaker, advance } = halfOpen();
      advance(9_900);
      expect(breaker.check()).toEqual({ allowed: false, retryInMs: 100, state: 'half_open' });
      advance(100);
      expect(breaker.check()).toEqual({ allowed: true, probe: true });
      expect(breaker.check()).toMatchObject({ allowed: false, state: 'half_open' });
      expect(breaker.state).toBe('half_open');
    });
  });

  it('calls onTransition once per transition over a full cycle', () => {
    const { breaker, transitions, advance, failTimes } = setup({
      failureThreshold: 1,
      coolDownMs: 1_000,
    });
    failTimes(1, 'ECONNREFUSED');
    breaker.check();
    breaker.check();
    advance(1_000);
    breaker.check();
    breaker.check();
    breaker.recordFailure('ECONNRESET');
    advance(1_000);
    breaker.check();
    breaker.recordSuccess();
    breaker.recordSuccess();
    breaker.check();
    expect(transitions.map(({ from, to, reason }) => ({ from, to, reason }))).toEqual([
      { from: 'closed', to: 'open', reason: 'ECONNREFUSED' },
      { from: 'open', to: 'half_open', reason: 'cool-down of 1000 ms elapsed' },
      { from: 'half_open', to: 'open', reason: 'ECONNRESET' },
      { from: 'open', to: 'half_open', reason: 'cool-down of 1000 ms elapsed' },
      { from: 'half_open', to: 'closed', reason: 'probe succeeded' },
    ]);
  });

  it('defaults to the system clock', () => {
    const before = Date.now();
    const breaker = new CircuitBreaker('x', options);
    expect(breaker.snapshot().since).toBeGreaterThanOrEqual(before);
  });

  it('rejects invalid options', () => {
    expect(() => new CircuitBreaker('x', { failureThreshold: 0, coolDownMs: 1 })).toThrow(
      RangeError,
    );
    expect(() => new CircuitBreaker('x', { failureThreshold: 1.5, coolDownMs: 1 })).toThrow(
      RangeError,
    );
    expect(() => new CircuitBreaker('x', { failureThreshold: 1, coolDownMs: -1 })).toThrow(
      RangeError,
    );
    expect(() => new CircuitBreaker('x', { failureThreshold: 1, coolDownMs: NaN })).toThrow(
      RangeError,
    );
  });
});
