import { trace } from '@opentelemetry/api';
import { RelayedEvent, type KeelNames } from '@keel/contracts';
import { parseJson, type Disposition, type InboundMessage } from '@keel/messaging';
import { KeelAttr, withLogContext } from '@keel/telemetry';
import type { RunDriver } from '../run-driver';

/**
 * A run event that leaves the planner work to do later (a review decision that
 * asks for a re-plan). Driving is idempotent — it acts on the recorded state —
 * so a repeated wake-up finds nothing to do.
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
