import { aggregateOf, KeelHeaders, routeOf, type KeelNames } from '@keel/contracts';

interface RoutableEvent {
  readonly streamId: string;
  readonly streamVersion: number;
  readonly type: string;
  readonly data: unknown;
  readonly metadata: { readonly correlationId?: unknown; readonly tenant?: unknown };
}

/** The subject an event is published on: `<prefix>.evt.<aggregate>.<route>.<type>.<runId>`. */
export function subjectForEvent(names: KeelNames, e: RoutableEvent): string {
  return names.subjects.event.build(
    aggregateOf(e.streamId),
    routeOf(e),
    e.type,
    String(e.metadata.correlationId),
  );
}

/** Headers every published event carries (besides trace context and `Nats-Msg-Id`). */
export function headersForEvent(e: RoutableEvent): Record<string, string> {
  return {
    [KeelHeaders.runId]: String(e.metadata.correlationId),
    [KeelHeaders.eventType]: e.type,
    [KeelHeaders.streamId]: e.streamId,
    [KeelHeaders.streamVersion]: String(e.streamVersion),
    [KeelHeaders.tenant]: String(e.metadata.tenant),
  };
}
