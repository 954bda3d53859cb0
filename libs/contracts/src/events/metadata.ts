import { z } from 'zod';

/**
 * Metadata carried by every recorded event. The store fills it in, never the
 * domain: ids, correlation (the run), causation (the message that caused it),
 * the tenant, and the W3C trace context so the relay can continue the trace.
 */
export const EventMetadata = z.object({
  eventId: z.string().uuid(),
  /** The run this event belongs to (every event in Keel belongs to one run). */
  correlationId: z.string().uuid(),
  /** The id of the message or event that caused this one. */
  causationId: z.string().max(200).optional(),
  tenant: z.string(),
  traceparent: z.string().max(128).optional(),
  tracestate: z.string().max(512).optional(),
  /** Which service wrote it (for timelines). */
  producer: z.string().max(64).optional(),
});
export type EventMetadata = z.infer<typeof EventMetadata>;
