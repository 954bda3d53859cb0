import { z } from 'zod';
import { BaseConfig } from '@keel/runtime';

export const OutboxConfig = BaseConfig.extend({
  KEEL_RELAY_BATCH_SIZE: z.coerce.number().int().min(1).max(10_000).default(500),
  /** Polling fallback: NOTIFY wakes the relay at once, this catches anything a lost NOTIFY missed. */
  KEEL_RELAY_POLL_MS: z.coerce.number().int().min(10).max(60_000).default(500),
});
export type OutboxConfig = z.infer<typeof OutboxConfig>;
