import { metrics } from '@opentelemetry/api';
import type { BreakerStateName, FleetBreakerState } from '@keel/contracts';

const meter = metrics.getMeter('keel-budget-guard');
const VALUE: Record<BreakerStateName, number> = { closed: 0, half_open: 1, open: 2 };

const transitions = meter.createCounter('keel.fleet.breaker.transitions', {
  description: 'Fleet-wide breaker transitions, by breaker and target state',
});

/**
 * `keel.fleet.breaker.state` (0 closed, 1 half-open, 2 open) per dependency,
 * as this guard last published it, and a transition counter.
 */
export class BreakerMetrics {
  private readonly last = new Map<string, BreakerStateName>();

  constructor() {
    meter
      .createObservableGauge('keel.fleet.breaker.state', {
        description: 'Fleet-wide breaker state per dependency: 0 closed, 1 half-open, 2 open',
      })
      .addCallback((result) => {
        for (const [breaker, state] of this.last) result.observe(VALUE[state], { breaker });
      });
  }

  seen(s: FleetBreakerState): void {
    this.last.set(s.name, s.state);
  }

  transitioned(s: FleetBreakerState): void {
    transitions.add(1, { breaker: s.name, to: s.state });
    this.seen(s);
  }
}
