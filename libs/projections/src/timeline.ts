import type { KeelEvent } from '@keel/contracts';

/**
 * One line of a run's timeline, for people (`keel runs show`) and API
 * clients: who wrote the event, which step and attempt, tokens, latency and
 * error, pulled out of the event's data where the type has them.
 */
export interface TimelineFacts {
  /** The service that wrote it (`metadata.producer`), or the stream category. */
  readonly source: string;
  readonly step: number | null;
  readonly attempt: number | null;
  readonly tokens: { readonly input: number; readonly output: number } | null;
  readonly latencyMs: number | null;
  readonly error: { readonly code: string; readonly message: string } | null;
}

export function timelineFacts(
  event: KeelEvent & { readonly streamId: string },
  producer: string | undefined,
): TimelineFacts {
  const d = event.data as Record<string, unknown>;
  const num = (k: string) => (typeof d[k] === 'number' ? d[k] : null);
  const usage = d.usage as { inputTokens: number; outputTokens: number } | undefined;
  return {
    source: producer ?? event.streamId.slice(0, event.streamId.indexOf(':')),
    step: num('step'),
    attempt: num('attempt') ?? num('attempts'),
    tokens: usage ? { input: usage.inputTokens, output: usage.outputTokens } : null,
    latencyMs: num('latencyMs') ?? num('durationMs'),
    error: errorOf(event),
  };
}

function errorOf(event: KeelEvent): TimelineFacts['error'] {
  switch (event.type) {
    case 'ModelCallFailed':
      return { code: event.data.code, message: event.data.message };
    case 'ModelOutputRejected':
      return { code: 'OUTPUT_REJECTED', message: event.data.issues.join('; ') };
    case 'ToolResultRecorded':
      return event.data.outcome.ok ? null : pick(event.data.outcome.error);
    case 'RunDegraded':
      return pick(event.data.reason);
    case 'ToolCallAttemptFailed':
    case 'ToolCallFailed':
    case 'ToolCallRejected':
    case 'RunFailed':
    case 'DeliveryAttemptFailed':
    case 'DeliveryFailed':
    case 'CompensationFailed':
      return pick(event.data.error);
    case 'BudgetReservationDenied':
      return { code: 'BUDGET_DENIED', message: event.data.reason };
    default:
      return null;
  }
}

const pick = (e: { code: string; message: string }) => ({ code: e.code, message: e.message });
