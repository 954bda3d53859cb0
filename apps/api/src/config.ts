import { z } from 'zod';
import { TenantId } from '@keel/contracts';
import { isWellFormedKey } from '@keel/projections/store';
import { BaseConfig, jsonEnv } from '@keel/runtime';

/** Keys to store at start-up (demo, tests): never logged, stored hashed like any other. */
const BootstrapKeys = z
  .array(
    z
      .object({
        tenant: TenantId,
        key: z.string().refine(isWellFormedKey, 'must look like keel_<12 hex>_<43 base64url>'),
        role: z.enum(['tenant', 'admin']).default('tenant'),
        name: z.string().max(200).default('bootstrap'),
      })
      .strict(),
  )
  .max(100);

export const ApiConfig = BaseConfig.extend({
  KEEL_API_PORT: z.coerce.number().int().min(0).max(65_535).default(8090),
  KEEL_API_HOST: z.string().min(1).default('127.0.0.1'),
  /** JSON: `[{"tenant":"acme","key":"keel_…","role":"tenant"}]`. Optional. */
  KEEL_API_BOOTSTRAP_KEYS: jsonEnv(BootstrapKeys).optional(),
  /** Where a run waiting for a person is announced (a webhook through the outbox). Optional. */
  KEEL_REVIEW_WEBHOOK_URL: z
    .string()
    .url()
    .refine((u) => /^https?:/.test(u), 'must be an http(s) URL')
    .optional()
    .or(z.literal('').transform(() => undefined)),
  /** The API's own URL as callers reach it, for links in webhooks. Default from host and port. */
  KEEL_API_PUBLIC_URL: z.string().url().optional(),
  /** Projector messages handled at once by this replica. */
  KEEL_API_PROJECTOR_CONCURRENCY: z.coerce.number().int().min(1).max(256).default(16),
  /** How long a review or cancel waits for the planner's answer. */
  KEEL_API_COMMAND_TIMEOUT_MS: z.coerce.number().int().min(100).max(120_000).default(10_000),
  /** How often an event stream (SSE) looks for new events in the log. */
  KEEL_API_SSE_POLL_MS: z.coerce.number().int().min(20).max(10_000).default(250),
});
export type ApiConfig = z.infer<typeof ApiConfig>;
