import type { KeelEvent } from '@keel/contracts';
import {
  closedBreaker,
  coolDownElapsed,
  healthObservationOf,
  observeHealth,
  type FleetBreaker,
} from './fleet-breaker';

const policy = { failureThreshold: 3, coolDownMs: 1_000 };
const fail = { breaker: 'tool:x', ok: false as const, reason: 'HTTP_503' };
const ok = { breaker: 'tool:x', ok: true as const };

describe('fleet breaker', () => {
  it('opens after the threshold of consecutive failures, with the last reason', () => {
    let b: FleetBreaker = closedBreaker('tool:x', 0);
    for (let i = 1; i < 3; i++) {
      const c = observeHealth(b, fail, policy, i);
      expect(c.transition).toBeUndefined();
      b = c.next;
    }
    const opened = observeHealth(b, { ...fail, reason: 'TIMEOUT' }, policy, 10);
    expect(opened.transition).toEqual({ from: 'closed', to: 'open' });
    expect(opened.next).toMatchObject({ state: 'open', since: 10, reason: 'TIMEOUT', failures: 3 });
  });

  it('a success anywhere in the fleet resets the count', () => {
    let b = observeHealth(closedBreaker('tool:x', 0), fail, policy, 1).next;
    b = observeHealth(b, fail, policy, 2).next;
    b = observeHealth(b, ok, policy, 3).next;
    expect(b.failures).toBe(0);
    expect(observeHealth(b, fail, policy, 4).transition).toBeUndefined();
  });

  it('ignores outcomes while open; the cool-down moves it to half-open, not earlier', () => {
    const open: FleetBreaker = {
      name: 'tool:x',
      state: 'open',
      since: 100,
      reason: 'x',
      failures: 3,
    };
    expect(observeHealth(open, ok, policy, 200)).toEqual({ next: open });
    expect(observeHealth(open, fail, policy, 200)).toEqual({ next: open });
    expect(coolDownElapsed(open, policy, 1_099)).toBeUndefined();
    const half = coolDownElapsed(open, policy, 1_100)!;
    expect(half.transition).toEqual({ from: 'open', to: 'half_open' });
    expect(coolDownElapsed(half.next, policy, 5_000)).toBeUndefined();
  });

  it('half-open: a probe success closes it, a failure re-opens it with a fresh cool-down', () => {
    const half: FleetBreaker = {
      name: 'tool:x',
      state: 'half_open',
      since: 0,
      reason: '',
      failures: 3,
    };
    expect(observeHealth(half, ok, policy, 5)).toMatchObject({
      next: { state: 'closed', failures: 0, since: 5 },
      transition: { from: 'half_open', to: 'closed' },
    });
    expect(observeHealth(half, fail, policy, 7)).toMatchObject({
      next: { state: 'open', since: 7, reason: 'HTTP_503' },
      transition: { from: 'half_open', to: 'open' },
    });
  });

  describe('health observations from events', () => {
    const facts = {
      step: 1,
      attempt: 1,
      role: 'reasoning',
      provider: 'openai',
      model: 'm',
      latencyMs: 1,
    };
    const failed = (code: string, errorClass: string) =>
      ({
        type: 'ModelCallFailed',
        data: { ...facts, code, errorClass, message: '', retryInMs: null },
      }) as unknown as KeelEvent;

    it('a transient model failure counts against the provider; a permanent one or a refusal does not', () => {
      expect(healthObservationOf(failed('HTTP_429', 'transient'))).toEqual({
        breaker: 'model:openai',
        ok: false,
        reason: 'HTTP_429',
      });
      expect(healthObservationOf(failed('HTTP_400', 'permanent'))).toBeUndefined();
      expect(healthObservationOf(failed('MODEL_BREAKER_OPEN', 'transient'))).toBeUndefined();
    });

    it('tool outcomes count only when the executor says which breaker they reported to', () => {
      const common = { runId: 'r', callId: 'c', step: 1, tool: 'http_get' };
      const succeeded = (breaker?: string) =>
        ({
          type: 'ToolCallSucceeded',
          data: {
            ...common,
            output: {},
            attempts: 1,
            durationMs: 1,
            ...(breaker ? { breaker } : {}),
          },
        }) as unknown as KeelEvent;
      expect(healthObservationOf(succeeded('http_get:h'))).toEqual({
        breaker: 'tool:http_get:h',
        ok: true,
      });
      expect(healthObservationOf(succeeded())).toBeUndefined();
    });
  });
});
