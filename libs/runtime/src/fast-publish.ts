import { headers as natsHeaders, type NatsConnection } from 'nats';
import { KeelHeaders, type KeelNames } from '@keel/contracts';
import { utf8 } from '@keel/messaging';
import type { RawRecordedEvent, RecordedEvent, StoredEventJson } from '@keel/event-store';
import type { BreakerSuccessReporter } from './breaker-success-reporter';
import { headersForEvent, subjectForEvent } from './event-routing';

/** The JetStream payload of an event (`RelayedEvent` in contracts): the row as stored. */
export function relayedPayload(e: RecordedEvent | RawRecordedEvent): Uint8Array {
  return utf8(
    JSON.stringify({
      streamId: e.streamId,
      streamVersion: e.streamVersion,
      globalPosition: e.globalPosition.toString(),
      type: e.type,
      schemaVersion: e.schemaVersion,
      data: e.data,
      metadata: e.metadata,
      recordedAt: e.createdAt.toISOString(),
    }),
  );
}

/**
 * The same payload from the stored JSON text (the relay's read): data and
 * metadata are spliced in as PostgreSQL returned them, not parsed and
 * re-serialised. Equal as JSON to `relayedPayload` of the same row; the bytes
 * differ only in jsonb's spacing.
 */
export function relayedPayloadFromJson(e: StoredEventJson): Uint8Array {
  return utf8(
    `{"streamId":${JSON.stringify(e.streamId)},"streamVersion":${e.streamVersion},` +
      `"globalPosition":"${e.globalPosition}","type":${JSON.stringify(e.type)},` +
      `"schemaVersion":${e.schemaVersion},"data":${e.dataJson},"metadata":${e.metadataJson},` +
      `"recordedAt":"${e.recordedAt}"}`,
  );
}

/**
 * Events another service is waiting for: they trigger work (a tool call, a
 * tool outcome, a delivery, a re-plan after a review) or pause or end a run or
 * a delivery. Only these take the fast path; everything else
 * reaches JetStream through the relay alone.
 */
export const FAST_PATH_EVENTS: ReadonlySet<string> = new Set([
  'ToolCallRequested',
  'ToolCallSucceeded',
  'ToolCallFailed',
  'ToolCallRejected',
  'DeliveryRequested',
  'DeliverySucceeded',
  'DeliveryFailed',
  'RunDeadlineExceeded',
  'HumanReviewRequested',
  'HumanReviewDecided',
  'RunCompleted',
  'RunFailed',
  'RunDegraded',
  'RunCancelled',
  'RunTimedOut',
]);

/**
 * The fast path: publish events right after their commit, so the next service
 * does not wait for the relay. Best effort: a plain publish on the stream's
 * subject, which JetStream stores without sending a PubAck back (no reply
 * subject), because the relay publishes every committed event anyway, with
 * the same `Nats-Msg-Id` (JetStream drops the second copy). Nothing waits on
 * the PubAck, so asking for one only cost a server write, a client read and a
 * request timer per event. Events of one call are published in order on one
 * connection.
 */
export class FastPublisher {
  constructor(
    private readonly nc: NatsConnection,
    private readonly names: KeelNames,
    /** Also told of every commit: reports the successes a fleet breaker needs to hear of. */
    private readonly breakers?: BreakerSuccessReporter,
  ) {}

  publish(records: readonly RecordedEvent[]): void {
    this.breakers?.report(records);
    for (const e of records) {
      if (!FAST_PATH_EVENTS.has(e.type)) continue;
      const h = natsHeaders();
      for (const [k, v] of Object.entries(headersForEvent(e))) h.set(k, v);
      h.set(KeelHeaders.fastPath, '1');
      h.set(KeelHeaders.msgId, e.metadata.eventId);
      if (e.metadata.traceparent) h.set('traceparent', e.metadata.traceparent);
      if (e.metadata.tracestate) h.set('tracestate', e.metadata.tracestate);
      try {
        this.nc.publish(subjectForEvent(this.names, e), relayedPayload(e), { headers: h });
      } catch {
        // Connection closed or draining: the relay publishes the event.
      }
    }
  }
}
