import type { Pool } from 'pg';
import { trace } from '@opentelemetry/api';
import { RelayedEvent, streamIds, upcastEvent, type ToolOutcome } from '@keel/contracts';
import { parseJson, type Disposition, type InboundMessage } from '@keel/messaging';
import { decideToolOutcome } from '@keel/run-domain';
import { newEventMetadata, runStep } from '@keel/runtime';
import { withLogContext } from '@keel/telemetry';
import { runAggregate } from '../run-aggregate';
import type { RunDriver } from '../run-driver';

const CONSUMER = 'planner-tool-results';

/**
 * A tool call's outcome (from the tool executor's stream): record it on the
 * run once (inbox + the decider ignore repeats), then drive the run: when the
 * last pending call has an outcome, the planner asks the model again.
 */
export function toolOutcomeHandler(deps: { pool: Pool; driver: RunDriver }) {
  return async (msg: InboundMessage): Promise<Disposition> => {
    const relayed = parseJson(msg, RelayedEvent);
    const event = upcastEvent(relayed.type, relayed.schemaVersion, relayed.data);
    let outcome: ToolOutcome;
    switch (event.type) {
      case 'ToolCallSucceeded':
        outcome = { ok: true, output: event.data.output };
        break;
      case 'ToolCallFailed':
      case 'ToolCallRejected':
        outcome = { ok: false, error: event.data.error };
        break;
      default:
        return { kind: 'ack' }; // other tool-call events are not the planner's concern
    }
    const { runId, callId } = event.data;
    trace
      .getActiveSpan()
      ?.setAttributes({ 'keel.run.id': runId, 'keel.tool.name': event.data.tool });
    return withLogContext({ runId }, async () => {
      const eventId = relayed.metadata.eventId;
      await runStep(deps.pool, runAggregate, {
        streamId: streamIds.run(runId),
        inbox: { consumer: CONSUMER, messageId: eventId },
        decide: (s) => ({ events: decideToolOutcome(s, { callId, outcome }), result: undefined }),
        metadata: () =>
          newEventMetadata({
            runId,
            tenant: relayed.metadata.tenant,
            causationId: eventId,
            producer: 'planner',
          }),
      });
      await deps.driver.drive(runId, eventId);
      return { kind: 'ack' };
    });
  };
}
