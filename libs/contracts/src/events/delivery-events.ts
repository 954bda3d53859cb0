import { z } from 'zod';
import { defineEvent, ErrorInfo, JsonObject } from './define';

/**
 * Events of a Delivery stream (`delivery:<deliveryId>`): external side effects
 * (webhooks, email) that the outbox performs exactly once per idempotency key.
 * `DeliveryRequested` is appended by the tool that wants the effect, in the same
 * transaction as its own events; the outbox appends the outcome.
 */

export const DeliveryChannel = z.enum(['webhook', 'email']);
export type DeliveryChannel = z.infer<typeof DeliveryChannel>;

/** What an email delivery carries (`payload` of an `email` DeliveryRequested). */
export const EmailPayload = z.object({
  subject: z.string().min(1).max(998),
  text: z.string().max(100_000),
});
export type EmailPayload = z.infer<typeof EmailPayload>;

/**
 * `target`: the URL (webhook) or the recipient address (email). `payload`: the
 * JSON body (webhook) or an `EmailPayload` (email). `idempotencyKey` travels
 * with every attempt (`Idempotency-Key` header; the email's `Message-ID`), so
 * a receiver can recognise a repeat.
 */
export const DeliveryRequested = defineEvent(
  'DeliveryRequested',
  1,
  z.object({
    deliveryId: z.string().uuid(),
    runId: z.string().uuid(),
    channel: DeliveryChannel,
    idempotencyKey: z.string(),
    target: z.string(),
    payload: JsonObject,
    /** The tool call that asked for it. */
    callId: z.string().uuid().optional(),
  }),
);

/** One failed attempt; the next follows after `retryInMs` (null: this was the last). */
export const DeliveryAttemptFailed = defineEvent(
  'DeliveryAttemptFailed',
  1,
  z.object({
    deliveryId: z.string().uuid(),
    runId: z.string().uuid(),
    attempt: z.number().int().min(1),
    error: ErrorInfo,
    retryInMs: z.number().int().min(0).nullable(),
  }),
);

export const DeliverySucceeded = defineEvent(
  'DeliverySucceeded',
  1,
  z.object({
    deliveryId: z.string().uuid(),
    runId: z.string().uuid(),
    attempts: z.number().int(),
    /** What the receiver answered: the HTTP status, or the SMTP server's reply. */
    receipt: z.string().max(500).optional(),
  }),
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

export const DeliveryEvents = [
  DeliveryRequested,
  DeliveryAttemptFailed,
  DeliverySucceeded,
  DeliveryFailed,
] as const;

export const DeliveryEvent = z.discriminatedUnion('type', [
  DeliveryRequested.schema,
  DeliveryAttemptFailed.schema,
  DeliverySucceeded.schema,
  DeliveryFailed.schema,
]);
export type DeliveryEvent = z.infer<typeof DeliveryEvent>;
