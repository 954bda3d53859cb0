import { z } from 'zod';
import { BaseConfig } from '@keel/runtime';

/** The webhook secret used when none is configured: fine for a laptop, never for a deployment. */
export const DEFAULT_WEBHOOK_SECRET = 'dev-webhook-secret-change-me';

export const OutboxConfig = BaseConfig.extend({
  KEEL_RELAY_BATCH_SIZE: z.coerce.number().int().min(1).max(10_000).default(1000),
  /** How often the relay reads the log and what JetStream received (it is the recovery path). */
  KEEL_RELAY_POLL_MS: z.coerce.number().int().min(10).max(60_000).default(200),
  /**
   * How long an event may be missing from JetStream before the relay sends it: the time its
   * writer's publish after commit has to arrive, and the longest a lost publish goes unnoticed.
   */
  KEEL_RELAY_GRACE_MS: z.coerce.number().int().min(0).max(60_000).default(500),
  /** How often the relay checks that JetStream still holds what it relayed (0: never). */
  KEEL_RELAY_AMNESIA_CHECK_MS: z.coerce.number().int().min(0).max(3_600_000).default(5000),

  /** HMAC-SHA256 key of `Keel-Signature` on every webhook. Never logged. */
  KEEL_WEBHOOK_SECRET: z.string().min(16).default(DEFAULT_WEBHOOK_SECRET),
  /** Where email deliveries go: `smtp://[user:pass@]host:port` (`smtps://` for implicit TLS). */
  KEEL_SMTP_URL: z.string().url().default('smtp://127.0.0.1:2525'),
  /** The `From` of every email delivery. */
  KEEL_EMAIL_FROM: z
    .string()
    .min(3)
    .refine((v) => v.includes('@'), 'must be an email address')
    .default('keel@localhost'),
  /** Attempts per delivery for transient failures, the first included. */
  KEEL_DELIVERY_MAX_ATTEMPTS: z.coerce.number().int().min(1).max(40).default(8),
  /** One attempt (connect, send, answer) may take this long before it counts as a transient failure. */
  KEEL_DELIVERY_TIMEOUT_MS: z.coerce.number().int().min(100).max(120_000).default(10_000),
  /** Full-jitter backoff between attempts: base of the exponential ceiling… */
  KEEL_DELIVERY_RETRY_BASE_MS: z.coerce.number().int().min(0).max(3_600_000).default(500),
  /** …and its cap. */
  KEEL_DELIVERY_RETRY_CAP_MS: z.coerce.number().int().min(0).max(3_600_000).default(60_000),
  /** A receiver's Retry-After longer than this ends the delivery instead of holding it. */
  KEEL_DELIVERY_MAX_RETRY_AFTER_MS: z.coerce.number().int().min(0).max(86_400_000).default(900_000),
  /** Deliveries in progress at once per replica (the bulkhead). */
  KEEL_DELIVERY_CONCURRENCY: z.coerce.number().int().min(1).max(1024).default(32),
});
export type OutboxConfig = z.infer<typeof OutboxConfig>;
