import { metrics } from '@opentelemetry/api';
import { CircuitBreaker, type BreakerState, type BreakerTransition } from '@keel/resilience';

const STATE_VALUE: Record<BreakerState, number> = { closed: 0, half_open: 1, open: 2 };

/**
 * One circuit breaker per tool (or per dependency several tools name), per
 * replica. Breaker calls are synchronous, so a transition is attributed
 * exactly to the call that caused it (`observe`), and recorded on that call's
 * stream. The state is also exported as the `keel.tool.breaker.state` gauge
 * (0 closed, 1 half-open, 2 open).
 */
export class ToolBreakers {
  private readonly breakers = new Map<string, CircuitBreaker>();
  private recorder: BreakerTransition[] | undefined;

  constructor(private readonly opts: { failureThreshold: number; coolDownMs: number }) {
    metrics
      .getMeter('keel-tool-executor')
      .createObservableGauge('keel.tool.breaker.state', {
        description: 'Circuit breaker state per tool dependency: 0 closed, 1 half-open, 2 open',
      })
      .addCallback((result) => {
        for (const [key, b] of this.breakers)
          result.observe(STATE_VALUE[b.state], { breaker: key });
      });
  }

  get(key: string): CircuitBreaker {
    let b = this.breakers.get(key);
    if (!b) {
      b = new CircuitBreaker(key, this.opts, { onTransition: (t) => this.recorder?.push(t) });
      this.breakers.set(key, b);
    }
    return b;
  }

  /** Run a breaker call and return what it did plus the transitions it caused. */
  observe<T>(fn: () => T): { value: T; transitions: BreakerTransition[] } {
    const transitions: BreakerTransition[] = [];
    this.recorder = transitions;
    try {
      return { value: fn(), transitions };
    } finally {
      this.recorder = undefined;
    }
  }
}
