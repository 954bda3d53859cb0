import { trace } from '@opentelemetry/api';
import { RelayedEvent, type KeelNames } from '@keel/contracts';
import { parseJson, type Disposition, type InboundMessage } from '@keel/messaging';
import { KeelAttr, withLogContext } from '@keel/telemetry';
import type { RunDriver } from '../run-driver';

/**
 * An event that leaves the planner work to do on a run: a review decision that
 * asks for a re-plan, or a deadline the budget guard fired (the run then ends
 * degraded or timed out). Driving is idempotent — it acts on the recorded
 * state — so a repeated wake-up, or one for a finished run, does nothing.
 */
export function wakeupHandler(deps: { names: KeelNames; driver: RunDriver }) {
  return async (msg: InboundMessage): Promise<Disposition> => {
    const relayed = parseJson(msg, RelayedEvent);
    const runId = String(relayed.metadata.correlationId);
    trace.getActiveSpan()?.setAttributes({ [KeelAttr.runId]: runId });
    return withLogContext({ runId }, async () => {
      await deps.driver.drive(runId, relayed.metadata.eventId);
      return { kind: 'ack' };
    });
  };
}
