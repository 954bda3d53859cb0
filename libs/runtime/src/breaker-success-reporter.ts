import type { NatsConnection } from 'nats';
import type { BreakerSuccessReport, KeelNames } from '@keel/contracts';
import { healthObservationOf } from '@keel/budget-domain';
import type { RecordedEvent } from '@keel/event-store';
import { utf8 } from '@keel/messaging';
import type { FleetBreakerView } from '@keel/resilience';

/**
 * Tells the budget guard about the successes that change a fleet breaker
 * (docs/design/fleet-breakers.md): after a commit, each recorded success
 * (a model decision, a tool call that ran against its breaker) whose breaker
 * this replica's view says counted failures, or is not closed, is reported on
 * `<prefix>.breakers.success`. Every other success — nearly all of them —
 * costs the guard nothing. Fire and forget on core NATS: a report lost while
 * the guard is away leaves a count un-reset (the breaker errs towards
 * opening) or a half-open breaker waiting for the next probe's report.
 */
export class BreakerSuccessReporter {
  constructor(
    private readonly nc: NatsConnection,
    private readonly names: KeelNames,
    private readonly view: FleetBreakerView,
  ) {}

  report(records: readonly RecordedEvent[]): void {
    for (const e of records) {
      const obs = healthObservationOf(e);
      if (!obs?.ok || !this.view.successMatters(obs.breaker)) continue;
      const report: BreakerSuccessReport = {
        breaker: obs.breaker,
        eventId: e.metadata.eventId,
        runId: e.metadata.correlationId,
        tenant: e.metadata.tenant,
      };
      this.nc.publish(this.names.subjects.breakerSuccess.build(), utf8(JSON.stringify(report)));
    }
  }
}
