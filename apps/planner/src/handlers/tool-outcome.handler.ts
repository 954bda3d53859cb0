import { trace } from '@opentelemetry/api';
import { RelayedEvent, upcastEvent, type KeelNames, type ToolOutcome } from '@keel/contracts';
import { parseJson, type Disposition, type InboundMessage } from '@keel/messaging';
import { decideToolOutcome } from '@keel/run-domain';
import { KeelAttr, withLogContext } from '@keel/telemetry';
import type { RunDriver } from '../run-driver';

/**
 * A tool call's outcome (from the tool executor's stream): recorded on the run
 * once (inbox + the decider ignore repeats) together with whatever the run
 * does next — when it was the last pending call, the next model decision.
 */
export function toolOutcomeHandler(deps: { names: KeelNames; driver: RunDriver }) {
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
      ?.setAttributes({ [KeelAttr.runId]: runId, [KeelAttr.toolName]: event.data.tool });
    return withLogContext({ runId }, async () => {
      const eventId = relayed.metadata.eventId;
      await deps.driver.drive(runId, eventId, {
        decide: (s) => decideToolOutcome(s, { callId, outcome }),
        inbox: { consumer: deps.names.consumers.plannerToolResults, messageId: eventId },
      });
      return { kind: 'ack' };
    });
  };
}
