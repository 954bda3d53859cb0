import {
  propagation,
  ROOT_CONTEXT,
  SpanKind,
  trace,
  type Context,
  type Span,
} from '@opentelemetry/api';
import { KeelAttr } from '@keel/telemetry';
import { traceparentSampled } from '@keel/messaging';

const tracer = trace.getTracer('keel-events');

/** What a publish span needs of an event: its trace context as stored with it. */
export interface PublishedEvent {
  readonly type: string;
  readonly eventId: string;
  readonly runId: string;
  readonly traceparent: string | null | undefined;
  readonly tracestate: string | null | undefined;
}

/**
 * The PRODUCER span of publishing a stored event, child of the context the
 * event was appended in, so the run's trace continues through the publish to
 * its consumers (inject `context` into the message's headers). `undefined`
 * when the event's trace was not sampled: under the parent-based sampler that
 * span would never be recorded, so the caller forwards the stored context as
 * is and skips the span's cost.
 */
export function startPublishSpan(
  e: PublishedEvent,
  subject: string,
): { span: Span; context: Context } | undefined {
  if (!e.traceparent || !traceparentSampled(e.traceparent)) return undefined;
  const parent = propagation.extract(ROOT_CONTEXT, {
    traceparent: e.traceparent,
    tracestate: e.tracestate ?? undefined,
  });
  const span = tracer.startSpan(
    `publish ${e.type}`,
    {
      kind: SpanKind.PRODUCER,
      attributes: {
        'messaging.system': 'nats',
        'messaging.destination.name': subject,
        'messaging.message.id': e.eventId,
        [KeelAttr.runId]: e.runId,
        [KeelAttr.eventType]: e.type,
      },
    },
    parent,
  );
  return { span, context: trace.setSpan(parent, span) };
}
