import { z } from 'zod';
import { EventMetadata } from './metadata';

/**
 * The JetStream payload of a relayed event: the stored row as written (data in
 * its stored schema version, so a consumer upcasts exactly like the store
 * does). `Nats-Msg-Id` is `metadata.eventId`.
 */
export const RelayedEvent = z.object({
  streamId: z.string(),
  streamVersion: z.number().int().min(1),
  globalPosition: z.string(),
  type: z.string(),
  schemaVersion: z.number().int().min(1),
  data: z.unknown(),
  metadata: EventMetadata,
  recordedAt: z.string(),
});
export type RelayedEvent = z.infer<typeof RelayedEvent>;
