import { context, propagation } from '@opentelemetry/api';
import { uuidv7, type EventMetadata } from '@keel/contracts';

/**
 * Metadata for an event about to be appended: a fresh time-ordered id, the run
 * as correlation id, what caused it, and the active W3C trace context so the
 * relay can continue the run's trace when it publishes the event.
 */
export function newEventMetadata(args: {
  runId: string;
  tenant: string;
  causationId?: string;
  producer: string;
}): EventMetadata {
  const carrier: Record<string, string> = {};
  propagation.inject(context.active(), carrier);
  return {
    eventId: uuidv7(),
    correlationId: args.runId,
    tenant: args.tenant,
    producer: args.producer,
    ...(args.causationId ? { causationId: args.causationId } : {}),
    ...(carrier.traceparent ? { traceparent: carrier.traceparent } : {}),
    ...(carrier.tracestate ? { tracestate: carrier.tracestate } : {}),
  };
}
