import type { Pool } from 'pg';
import type { Logger } from 'pino';
import { streamIds, type DeliveryEvent, type ToolCallEvent } from '@keel/contracts';
import {
  appendToStream,
  ConcurrencyError,
  withTransaction,
  type RecordedEvent,
} from '@keel/event-store';
import { RetryableError } from '@keel/messaging';
import { newEventMetadata, type AppendBatcher, type FastPublisher } from '@keel/runtime';
import type { DeliveryRequest } from '@keel/tools';

export interface CallRef {
  readonly streamId: string;
  /** The stream's version the events were decided from. */
  readonly version: number;
  readonly runId: string;
  readonly tenant: string;
  readonly causationId: string;
}

export type PlannedDelivery = DeliveryRequest & {
  readonly deliveryId: string;
  readonly idempotencyKey: string;
  readonly callId: string;
};

/**
 * Appends a tool call's events at the version they were decided from, and
 * publishes them (fast path). With deliveries, the call's outcome and each
 * `DeliveryRequested` (its own `delivery:<id>` stream) commit in ONE
 * transaction: the effect is requested if and only if the call is recorded.
 * A version conflict means another delivery of the message (or a replica)
 * got there first: the message is retried shortly and finds the call's state.
 */
export class CallRecorder {
  constructor(
    private readonly pool: Pool,
    private readonly batcher: AppendBatcher,
    private readonly publisher: FastPublisher,
  ) {}

  async record(
    ref: CallRef,
    events: ToolCallEvent[],
    log: Logger,
    deliveries: readonly PlannedDelivery[] = [],
  ): Promise<void> {
    // Each event gets its own metadata: its own event id.
    const metadata = () =>
      newEventMetadata({
        runId: ref.runId,
        tenant: ref.tenant,
        causationId: ref.causationId,
        producer: 'tool-executor',
      });
    const withMetadata = events.map((e) => ({ ...e, metadata: metadata() }));
    try {
      let records: RecordedEvent[];
      if (deliveries.length === 0) {
        ({ records } = await this.batcher.append({
          streamId: ref.streamId,
          expectedVersion: ref.version,
          events: withMetadata,
        }));
      } else {
        records = await withTransaction(this.pool, async (client) => {
          const all = [
            ...(await appendToStream(client, ref.streamId, ref.version, withMetadata)).records,
          ];
          for (const d of deliveries) {
            const requested: DeliveryEvent = {
              type: 'DeliveryRequested',
              data: {
                deliveryId: d.deliveryId,
                runId: ref.runId,
                channel: d.channel,
                idempotencyKey: d.idempotencyKey,
                target: d.target,
                payload: d.payload,
                callId: d.callId,
              },
            };
            const r = await appendToStream(client, streamIds.delivery(d.deliveryId), 0, [
              { ...requested, metadata: metadata() },
            ]);
            all.push(...r.records);
          }
          return all;
        });
      }
      this.publisher.publish(records);
    } catch (err) {
      if (!(err instanceof ConcurrencyError)) throw err;
      log.info({ streamId: ref.streamId }, 'tool call recorded concurrently; re-reading');
      throw new RetryableError('tool call recorded concurrently', { retryAfterMs: 50 });
    }
  }
}
