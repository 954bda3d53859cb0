import { z } from 'zod';
import { BaseConfig } from '@keel/runtime';

export const ToolExecutorConfig = BaseConfig.extend({
  /** In-flight tool calls per pool per replica (the bulkhead); also the consumer's max_ack_pending. */
  KEEL_POOL_CONCURRENCY: z.coerce.number().int().min(1).max(1024).default(32),
});
export type ToolExecutorConfig = z.infer<typeof ToolExecutorConfig>;
