import type { Msg, NatsError } from 'nats';
import type { Logger } from 'pino';
import { BreakerSuccessReport, RelayedEvent, upcastEvent } from '@keel/contracts';
import { healthObservationOf } from '@keel/budget-domain';
import { parseJson, type Disposition, type InboundMessage } from '@keel/messaging';
import type { AppliedChange, BreakerStore } from './breaker-store';

/** The inbox consumer name of reported successes (a success is idempotent: never de-duplicated). */
const SUCCESS_REPORTS = 'breaker-success-reports';

/**
 * Derives dependency health from one outcome event (a failed model call or
 * tool attempt) and applies it to the fleet breaker it names. Changes are
 * handed to `onChange` after commit (publish the event, put the KV value).
 */
export function healthHandler(deps: {
  store: BreakerStore;
  consumer: string;
  onChange: (t: AppliedChange) => void;
}) {
  return async (msg: InboundMessage): Promise<Disposition> => {
    const relayed = parseJson(msg, RelayedEvent);
    const obs = healthObservationOf(upcastEvent(relayed.type, relayed.schemaVersion, relayed.data));
    if (!obs) return { kind: 'ack' };
    const applied = await deps.store.observe(obs, {
      runId: relayed.metadata.correlationId,
      tenant: relayed.metadata.tenant,
      eventId: relayed.metadata.eventId,
      consumer: deps.consumer,
    });
    if (applied) deps.onChange(applied);
    return { kind: 'ack' };
  };
}

/**
 * A replica's report of a success that matters (core NATS, fire and forget:
 * nothing to acknowledge or dead-letter). An invalid report is logged without
 * its content and dropped; a failure to apply one is logged — the breaker then
 * waits for the next success's report.
 */
export function successReportHandler(deps: {
  store: BreakerStore;
  log: Logger;
  onChange: (t: AppliedChange) => void;
}) {
  return (err: NatsError | null, msg: Msg): void => {
    if (err)
      return deps.log.warn({ err: err.message }, 'breaker success reports: subscription error');
    let report: BreakerSuccessReport;
    try {
      report = BreakerSuccessReport.parse(msg.json());
    } catch {
      return deps.log.warn(
        { bytes: msg.data.length },
        'ignoring an invalid breaker success report',
      );
    }
    deps.store
      .observe({ breaker: report.breaker, ok: true }, { ...report, consumer: SUCCESS_REPORTS })
      .then((applied) => applied && deps.onChange(applied))
      .catch((e: unknown) =>
        deps.log.warn(
          { err: String(e), breaker: report.breaker },
          'breaker success report not applied; waiting for the next',
        ),
      );
  };
}
