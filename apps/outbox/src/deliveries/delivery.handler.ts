import { context, SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import {
  EventSchemaError,
  RelayedEvent,
  streamIds,
  UnknownEventError,
  upcastEvent,
  type DeliveryChannel,
  type KeelEvent,
} from '@keel/contracts';
import { ConcurrencyError } from '@keel/event-store';
import {
  parseJson,
  RetryableError,
  TerminalError,
  type Disposition,
  type InboundMessage,
} from '@keel/messaging';
import type { RetryPolicy } from '@keel/resilience';
import { commitStep, loadAggregate, newEventMetadata, type FastPublisher } from '@keel/runtime';
import { KeelAttr, startActiveSpanSampled, withLogContext } from '@keel/telemetry';
import {
  decideAttempt,
  deliveryAggregate,
  type AttemptOutcome,
  type DeliveryRequest,
  type PendingDelivery,
} from './delivery-state';

/** Performs one attempt of a delivery on its channel and classifies the result. Never throws. */
export type DeliveryChannelSender = (
  request: DeliveryRequest,
  attempt: number,
) => Promise<AttemptOutcome>;

export interface DeliveryHandlerDeps {
  readonly pool: Pool;
  readonly log: Logger;
  readonly publisher: FastPublisher;
  readonly channels: Readonly<Record<DeliveryChannel, DeliveryChannelSender>>;
  /** Attempts, backoff and the longest Retry-After honoured. */
  readonly retry: RetryPolicy;
  /** The consumer's `max_deliver`: a transient failure on that delivery ends the delivery. */
  readonly maxDeliver: number;
}

/** Version conflicts in a row before the message is handed back (a retry with backoff). */
const MAX_CONFLICTS = 5;
const tracer = trace.getTracer('keel-outbox');

/**
 * Performs the deliveries requested on `<prefix>.evt.delivery._.DeliveryRequested.<runId>`
 * (consumer `outbox-deliveries`): exactly once per idempotency key as a
 * well-behaved receiver sees it, from at-least-once attempts.
 *
 * Contract, per message:
 * 1. Load `delivery:<deliveryId>` (always from PostgreSQL: the attempt count
 *    and the outcome live there, and a cached state could send a finished
 *    delivery again). Succeeded or failed already → ack.
 * 2. Otherwise make ONE attempt (number = attempts recorded + 1) on the
 *    delivery's channel.
 * 3. Record the outcome at the version just read (the outbox is the stream's
 *    only writer after `DeliveryRequested`):
 *    - success → `DeliverySucceeded {attempts, receipt}`, ack;
 *    - transient failure with attempts left → `DeliveryAttemptFailed {attempt,
 *      error, retryInMs}`, then `RetryableError` with that delay: JetStream
 *      redelivers the message then, on any replica, which finds the attempt
 *      count in the stream (durable retries that survive a crash);
 *    - permanent failure, or none left → `DeliveryAttemptFailed` (retryInMs
 *      null) + `DeliveryFailed`, then `TerminalError(code, reason)`: the
 *      message is dead-lettered with the reason.
 *    A `ConcurrencyError` means another replica recorded something meanwhile:
 *    re-read; if the delivery is now finished, ack; otherwise record this
 *    attempt's outcome on top (the attempt happened; it is not made again).
 *
 * A crash between the attempt and the append (or before the ack) means the
 * attempt is made again on redelivery with the SAME `Idempotency-Key`
 * (email: the same Message-ID and `X-Keel-Idempotency-Key`). That is the
 * contract with receivers: they must process a key once and answer repeats
 * with the first answer. The outcome events are published right after commit
 * (fast path); the relay publishes them anyway.
 */
export function deliveryHandler(deps: DeliveryHandlerDeps) {
  return async (msg: InboundMessage): Promise<Disposition> => {
    const relayed = parseJson(msg, RelayedEvent);
    const event = readEvent(relayed);
    if (event.type !== 'DeliveryRequested')
      throw new TerminalError('UNEXPECTED_EVENT', `the delivery consumer received ${event.type}`);
    const request = event.data;
    const streamId = streamIds.delivery(request.deliveryId);
    if (relayed.streamId !== streamId)
      throw new TerminalError(
        'UNEXPECTED_STREAM',
        `DeliveryRequested for ${request.deliveryId} was recorded on ${relayed.streamId}`,
      );
    const runId = relayed.metadata.correlationId;
    const log = deps.log.child({ deliveryId: request.deliveryId, channel: request.channel });
    trace.getActiveSpan()?.setAttributes({
      [KeelAttr.runId]: runId,
      [KeelAttr.streamId]: streamId,
    });
    const metadata = () =>
      newEventMetadata({
        runId,
        tenant: relayed.metadata.tenant,
        causationId: relayed.metadata.eventId,
        producer: 'outbox',
      });

    return withLogContext({ runId }, async () => {
      let outcome: AttemptOutcome | undefined; // made by this delivery, not yet recorded
      for (let conflicts = 0; ; conflicts++) {
        const entry = await loadAggregate(deps.pool, deliveryAggregate, streamId);
        const state = entry.state;
        if (state.status === 'none')
          // Both publishers (the writer's fast path, the relay) publish only committed events.
          throw new TerminalError(
            'DELIVERY_NOT_RECORDED',
            `${streamId} has no events although its DeliveryRequested was published`,
          );
        if (state.status !== 'pending') {
          if (outcome)
            log.info(
              { status: state.status },
              'delivery was finished meanwhile by another replica',
            );
          return { kind: 'ack' };
        }
        outcome ??= await attempt(deps, state, log);
        const verdict = decideAttempt(state, outcome, deps.retry, {
          lastDelivery: msg.deliveries >= deps.maxDeliver,
        });
        try {
          const done = await commitStep(
            deps.pool,
            deliveryAggregate,
            streamId,
            entry,
            verdict.events,
            { metadata },
          );
          deps.publisher.publish(done.records);
        } catch (err) {
          if (err instanceof ConcurrencyError && conflicts < MAX_CONFLICTS) continue;
          throw err;
        }
        switch (verdict.kind) {
          case 'succeeded':
            log.info({ attempts: state.attempts + 1 }, 'delivered');
            return { kind: 'ack' };
          case 'retry':
            log.warn(
              {
                attempt: state.attempts + 1,
                code: outcome.ok ? undefined : outcome.error.code,
                retryInMs: verdict.retryInMs,
              },
              'delivery attempt failed; will retry',
            );
            throw new RetryableError(
              `delivery ${request.deliveryId}: attempt ${state.attempts + 1} failed`,
              { retryAfterMs: verdict.retryInMs },
            );
          case 'failed':
            log.warn({ attempts: state.attempts + 1, code: verdict.error.code }, 'delivery failed');
            throw new TerminalError(verdict.error.code, verdict.error.message);
        }
      }
    });
  };
}

function readEvent(relayed: RelayedEvent): KeelEvent {
  try {
    return upcastEvent(relayed.type, relayed.schemaVersion, relayed.data);
  } catch (err) {
    if (err instanceof UnknownEventError || err instanceof EventSchemaError)
      throw new TerminalError('SCHEMA_INVALID', err.message);
    throw err;
  }
}

/** One attempt on the delivery's channel, as a CLIENT span. Logs the target's origin at most. */
function attempt(
  deps: DeliveryHandlerDeps,
  state: PendingDelivery,
  log: Logger,
): Promise<AttemptOutcome> {
  const { request } = state;
  const n = state.attempts + 1;
  return startActiveSpanSampled(
    tracer,
    `deliver ${request.channel}`,
    {
      kind: SpanKind.CLIENT,
      attributes: {
        [KeelAttr.attempt]: n,
        'keel.delivery.id': request.deliveryId,
        'keel.delivery.channel': request.channel,
      },
    },
    context.active(),
    async (span) => {
      try {
        const outcome = await deps.channels[request.channel](request, n);
        if (!outcome.ok) {
          span.setStatus({ code: SpanStatusCode.ERROR, message: outcome.error.code });
          log.debug({ attempt: n, code: outcome.error.code }, 'delivery attempt did not succeed');
        }
        return outcome;
      } finally {
        span.end();
      }
    },
  );
}
