import { z } from 'zod';
import { defineEvent, ErrorInfo, JsonObject } from './define';

/**
 * Events of a Delivery stream (`delivery:<deliveryId>`): external side effects
 * (webhooks, email) that the outbox performs exactly once per idempotency key.
 * `DeliveryRequested` is appended by the tool that wants the effect, in the same
 * transaction as its own events; the outbox appends the outcome.
 */

export const DeliveryRequested = defineEvent(
  'DeliveryRequested',
  1,
  z.object({
    deliveryId: z.string().uuid(),
    runId: z.string().uuid(),
    channel: z.enum(['webhook', 'email']),
    idempotencyKey: z.string(),
    target: z.string(),
    payload: JsonObject,
  }),
);

export const DeliverySucceeded = defineEvent(
  'DeliverySucceeded',
  1,
  z.object({ deliveryId: z.string().uuid(), runId: z.string().uuid(), attempts: z.number().int() }),
);

export const DeliveryFailed = defineEvent(
  'DeliveryFailed',
  1,
  z.object({
    deliveryId: z.string().uuid(),
    runId: z.string().uuid(),
    error: ErrorInfo,
    attempts: z.number().int(),
  }),
);

export const DeliveryEvents = [DeliveryRequested, DeliverySucceeded, DeliveryFailed] as const;

export const DeliveryEvent = z.discriminatedUnion('type', [
  DeliveryRequested.schema,
  DeliverySucceeded.schema,
  DeliveryFailed.schema,
]);
export type DeliveryEvent = z.infer<typeof DeliveryEvent>;
