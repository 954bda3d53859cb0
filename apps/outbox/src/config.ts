import { z } from 'zod';
import { BaseConfig } from '@keel/runtime';

export const OutboxConfig = BaseConfig.extend({
  KEEL_RELAY_BATCH_SIZE: z.coerce.number().int().min(1).max(10_000).default(1000),
  /** Polling fallback: NOTIFY wakes the relay at once, this catches anything a lost NOTIFY missed. */
  KEEL_RELAY_POLL_MS: z.coerce.number().int().min(10).max(60_000).default(500),
  /** Wait this long after a wake-up to batch more events (the relay is off the latency path). */
  KEEL_RELAY_COALESCE_MS: z.coerce.number().int().min(0).max(10_000).default(50),
});
export type OutboxConfig = z.infer<typeof OutboxConfig>;
