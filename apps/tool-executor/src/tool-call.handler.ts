import { trace } from '@opentelemetry/api';
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import {
  RelayedEvent,
  streamIds,
  upcastEvent,
  type ErrorInfo,
  type ToolCallEvent,
} from '@keel/contracts';
import { ConcurrencyError, streamVersion } from '@keel/event-store';
import { parseJson, TerminalError, type Disposition, type InboundMessage } from '@keel/messaging';
import { newEventMetadata, type AppendBatcher, type FastPublisher } from '@keel/runtime';
import { KeelAttr, withLogContext } from '@keel/telemetry';
import { SideEffect, type ToolRegistry } from '@keel/tools';
import type { CapabilityCache } from './capability-cache';
import { executeTool } from './execute-tool';

export interface ToolCallDeps {
  readonly pool: Pool;
  readonly tools: ToolRegistry;
  readonly log: Logger;
  readonly capabilities: CapabilityCache;
  readonly publisher: FastPublisher;
  /** Outcomes that complete together are written in one statement. */
  readonly batcher: AppendBatcher;
}

/**
 * Runs one requested tool call. The call's own stream (`toolcall:<callId>`) is
 * the dedupe record: its outcome is appended with expected version 0, so a
 * redelivery or a second replica can never record it twice.
 *
 * Before executing, the stream is checked for an outcome when the message is
 * a redelivery or the tool is not read-only (a read-only tool's first delivery
 * skips the check: running it twice is harmless, and its second outcome is
 * refused by the append).
 *
 * The runtime authorises every call against the run's capability (the tools
 * listed in its RunRequested event) — never the model. A call outside it is
 * rejected and recorded, not executed.
 */
export function toolCallHandler(deps: ToolCallDeps) {
  return async (msg: InboundMessage): Promise<Disposition> => {
    const relayed = parseJson(msg, RelayedEvent);
    const event = upcastEvent(relayed.type, relayed.schemaVersion, relayed.data);
    if (event.type !== 'ToolCallRequested') {
      throw new TerminalError('UNEXPECTED_EVENT', `tool pool received ${event.type}`);
    }
    const runId = relayed.metadata.correlationId;
    const { callId, tool, step, input, idempotencyKey } = event.data;
    const streamId = streamIds.toolCall(callId);
    trace.getActiveSpan()?.setAttributes({
      [KeelAttr.runId]: runId,
      [KeelAttr.toolName]: tool,
      [KeelAttr.step]: step,
    });

    return withLogContext({ runId, step }, async () => {
      const readOnly = deps.tools.has(tool) && deps.tools.get(tool).sideEffect === SideEffect.Read;
      if ((msg.deliveries > 1 || !readOnly) && (await streamVersion(deps.pool, streamId)) > 0) {
        return { kind: 'ack' }; // already decided
      }

      const common = { runId, callId, step, tool };
      let outcome: ToolCallEvent;
      const refusal = await authorise(deps, runId, tool);
      if (refusal) {
        outcome = { type: 'ToolCallRejected', data: { ...common, error: refusal } };
      } else {
        const result = await executeTool(deps.tools.get(tool), input, { runId, idempotencyKey });
        outcome = result.ok
          ? {
              type: 'ToolCallSucceeded',
              data: {
                ...common,
                output: result.output,
                attempts: 1,
                durationMs: result.durationMs,
              },
            }
          : result.rejected
            ? { type: 'ToolCallRejected', data: { ...common, error: result.error } }
            : { type: 'ToolCallFailed', data: { ...common, error: result.error, attempts: 1 } };
      }
      if (outcome.type !== 'ToolCallSucceeded')
        deps.log.warn({ tool, code: outcome.data.error.code }, 'tool call did not succeed');

      try {
        const { records } = await deps.batcher.append({
          streamId,
          expectedVersion: 0,
          events: [
            {
              ...outcome,
              metadata: newEventMetadata({
                runId,
                tenant: relayed.metadata.tenant,
                causationId: relayed.metadata.eventId,
                producer: 'tool-executor',
              }),
            },
          ],
        });
        deps.publisher.publish(records);
      } catch (err) {
        if (!(err instanceof ConcurrencyError)) throw err; // another replica recorded it first
      }
      return { kind: 'ack' };
    });
  };
}

async function authorise(
  deps: ToolCallDeps,
  runId: string,
  tool: string,
): Promise<ErrorInfo | undefined> {
  const allowed = await deps.capabilities.toolsOf(runId);
  if (!allowed)
    return {
      code: 'RUN_UNKNOWN',
      message: `no run ${runId} to authorise against`,
      retryable: false,
    };
  if (!allowed.has(tool))
    return {
      code: 'NOT_PERMITTED',
      message: `tool '${tool}' is outside this run's capability`,
      retryable: false,
    };
  if (!deps.tools.has(tool))
    return {
      code: 'UNKNOWN_TOOL',
      message: `no tool named '${tool}' is registered`,
      retryable: false,
    };
  return undefined;
}
