import { z } from 'zod';

/**
 * What a consumer publishes to `<prefix>.dlq.<consumer>` when it gives up on a
 * message: the original payload (base64, so non-JSON survives), the reason,
 * and where it came from. JetStream's own max-deliveries and terminated
 * advisories land in the same DLQ stream.
 */
export const DeadLetter = z.object({
  consumer: z.string(),
  stream: z.string(),
  subject: z.string(),
  streamSequence: z.number().int(),
  deliveries: z.number().int(),
  /** Stable code: `INVALID_JSON`, `SCHEMA_INVALID`, `TOO_LARGE`, `HANDLER_FAILED`, ... */
  code: z.string(),
  reason: z.string().max(4000),
  payloadBase64: z.string(),
  payloadBytes: z.number().int(),
  headers: z.record(z.string(), z.string()),
  runId: z.string().optional(),
  traceId: z.string().optional(),
  deadLetteredAt: z.string(),
});
export type DeadLetter = z.infer<typeof DeadLetter>;
