import type { PoolClient } from 'pg';
import { streamIds, uuidv5 } from '@keel/contracts';
import { appendToStream, streamVersion, type RecordedEvent } from '@keel/event-store';
import { newEventMetadata } from '@keel/runtime';

export interface ReviewWebhookOptions {
  /** Where to announce reviews. */
  readonly url: string;
  /** The API's URL as people reach it (links in the payload). */
  readonly publicUrl: string;
}

/**
 * A run waits for a person: ask the outbox to POST a webhook (a chat tool
 * notifies someone). Called by the projector INSIDE the transaction that
 * projects `HumanReviewRequested`, so the delivery is committed together with
 * the projection's position: never lost (the position does not move without
 * it), never asked twice (the position moved with it). Its id and
 * idempotency key derive from (run, step) — `review:<runId>:<step>` — and an
 * existing stream is left alone, so even a projection rebuilt from scratch
 * would not request it again. The outbox signs, retries and deduplicates.
 */
export async function requestReviewWebhook(
  c: PoolClient,
  opts: ReviewWebhookOptions,
  e: Extract<RecordedEvent, { type: 'HumanReviewRequested' }>,
): Promise<RecordedEvent[]> {
  const runId = e.metadata.correlationId;
  const idempotencyKey = `review:${runId}:${e.data.step}`;
  const deliveryId = uuidv5(idempotencyKey);
  const streamId = streamIds.delivery(deliveryId);
  if ((await streamVersion(c, streamId)) > 0) return [];
  const base = opts.publicUrl.replace(/\/$/, '');
  const res = await appendToStream(c, streamId, 0, [
    {
      type: 'DeliveryRequested',
      data: {
        deliveryId,
        runId,
        channel: 'webhook',
        idempotencyKey,
        target: opts.url,
        payload: {
          type: 'keel.review.requested',
          runId,
          tenant: e.metadata.tenant,
          step: e.data.step,
          reason: e.data.reason,
          detail: e.data.detail,
          threshold: e.data.threshold,
          proposal: e.data.proposal,
          requestedAt: e.createdAt.toISOString(),
          links: {
            run: `${base}/runs/${runId}`,
            decide: `${base}/runs/${runId}/reviews/${e.data.step}`,
          },
        },
      },
      metadata: newEventMetadata({
        runId,
        tenant: e.metadata.tenant,
        causationId: e.metadata.eventId,
        producer: 'api',
      }),
    },
  ]);
  return res.records;
}
