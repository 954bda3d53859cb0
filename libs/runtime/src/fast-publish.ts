import type { NatsConnection } from 'nats';
import { aggregateOf, KeelHeaders, type Aggregate, type KeelNames } from '@keel/contracts';
import { headersOf, injectTraceHeaders, utf8 } from '@keel/messaging';
import {
  writtenJsonOf,
  type RawRecordedEvent,
  type RecordedEvent,
  type StoredEventJson,
} from '@keel/event-store';
import type { BreakerSuccessReporter } from './breaker-success-reporter';
import { headersForEvent, subjectForEvent } from './event-routing';
import { startPublishSpan } from './publish-span';

/**
 * The JetStream payload of an event (`RelayedEvent` in contracts): the row as
 * stored. A record this process just appended is not serialised again: its
 * `data` and `metadata` are spliced in as the append wrote them.
 */
export function relayedPayload(e: RecordedEvent | RawRecordedEvent): Uint8Array {
  const written = writtenJsonOf(e);
  if (written)
    return spliced(
      e,
      e.globalPosition,
      e.createdAt.toISOString(),
      written.dataJson,
      written.metadataJson,
    );
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
  return spliced(e, e.globalPosition, e.recordedAt, e.dataJson, e.metadataJson);
}

function spliced(
  e: { streamId: string; streamVersion: number; type: string; schemaVersion: number },
  globalPosition: bigint,
  recordedAt: string,
  dataJson: string,
  metadataJson: string,
): Uint8Array {
  return utf8(
    `{"streamId":${JSON.stringify(e.streamId)},"streamVersion":${e.streamVersion},` +
      `"globalPosition":"${globalPosition}","type":${JSON.stringify(e.type)},` +
      `"schemaVersion":${e.schemaVersion},"data":${dataJson},"metadata":${metadataJson},` +
      `"recordedAt":"${recordedAt}"}`,
  );
}

/**
 * Events another service is waiting for: they trigger work (a tool call, a
 * tool outcome, a delivery, a re-plan after a review) or pause or end a run or
 * a delivery. A writer publishes these whatever their stream (its NATS user may
 * publish them), besides every event of the streams it owns.
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

export interface FastPublisherOptions {
  /** Aggregates whose every event this writer publishes (its NATS user may publish them all). */
  readonly owns?: readonly Aggregate[];
  /** Also told of every commit: reports the successes a fleet breaker needs to hear of. */
  readonly breakers?: BreakerSuccessReporter;
}

/**
 * The fast path: publish events right after their commit. This is how events
 * reach JetStream; the relay only sends what is still missing after a grace
 * period (apps/outbox). Best effort: a plain publish on the stream's subject,
 * which JetStream stores without sending a PubAck back (no reply subject):
 * the relay learns what the stream holds from the stream itself, so a PubAck
 * would only cost a server write, a client read and a request timer per event.
 * Events of one call are published in order on one connection.
 */
export class FastPublisher {
  private readonly owns: ReadonlySet<string>;
  private readonly breakers: BreakerSuccessReporter | undefined;

  constructor(
    private readonly nc: NatsConnection,
    private readonly names: KeelNames,
    opts: FastPublisherOptions = {},
  ) {
    this.owns = new Set(opts.owns ?? []);
    this.breakers = opts.breakers;
  }

  publish(records: readonly RecordedEvent[]): void {
    this.breakers?.report(records);
    for (const e of records) {
      if (!FAST_PATH_EVENTS.has(e.type) && !this.owns.has(aggregateOf(e.streamId))) continue;
      const record = headersForEvent(e);
      record[KeelHeaders.msgId] = e.metadata.eventId;
      const subject = subjectForEvent(this.names, e);
      const traced = startPublishSpan(
        {
          type: e.type,
          eventId: e.metadata.eventId,
          runId: e.metadata.correlationId,
          traceparent: e.metadata.traceparent,
          tracestate: e.metadata.tracestate,
        },
        subject,
      );
      if (!traced) {
        // Not sampled: consumers stay in the event's trace without a span of ours.
        if (e.metadata.traceparent) record['traceparent'] = e.metadata.traceparent;
        if (e.metadata.tracestate) record['tracestate'] = e.metadata.tracestate;
      }
      const h = headersOf(record);
      if (traced) injectTraceHeaders(h, traced.context);
      try {
        this.nc.publish(subject, relayedPayload(e), { headers: h });
      } catch {
        // Connection closed or draining: the relay sends the event after its grace.
      } finally {
        traced?.span.end();
      }
    }
  }
}
