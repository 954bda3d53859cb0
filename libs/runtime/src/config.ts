import { z } from 'zod';

/**
 * Settings every Keel service shares, parsed once at boot from the
 * environment. Only a composition root (an app's main.ts) passes
 * `process.env` in; everything else receives the typed result.
 */
export const BaseConfig = z.object({
  KEEL_DATABASE_URL: z.string().url().default('postgres://postgres@127.0.0.1:5432/keel'),
  KEEL_DB_SCHEMA: z
    .string()
    .regex(/^[a-z_][a-z0-9_]{0,62}$/)
    .default('keel'),
  KEEL_DB_POOL_SIZE: z.coerce.number().int().min(1).max(100).default(10),
  KEEL_NATS_URL: z.string().default('nats://127.0.0.1:4222'),
  KEEL_NATS_USER: z.string().optional(),
  KEEL_NATS_PASSWORD: z.string().optional(),
  /** Per-service reply prefix, e.g. `_INBOX_planner` (required by infra/nats permissions). */
  KEEL_NATS_INBOX_PREFIX: z
    .string()
    .regex(/^[A-Za-z0-9_-]+$/)
    .optional(),
  /** `false`: declare no streams/consumers, bind to those `keel provision` declared. */
  KEEL_NATS_PROVISION: z
    .enum(['true', 'false'])
    .default('true')
    .transform((v) => v === 'true'),
  KEEL_PREFIX: z.string().default('keel'),
  OTEL_EXPORTER_OTLP_ENDPOINT: z
    .string()
    .url()
    .optional()
    .or(z.literal('').transform(() => undefined)),
  KEEL_TRACE_SAMPLE_RATIO: z.coerce.number().min(0).max(1).default(1),
  /** Log memory and event-loop delay every N ms ("runtime stats"); 0 = off. */
  KEEL_STATS_INTERVAL_MS: z.coerce.number().int().min(0).default(0),
  KEEL_LOG_LEVEL: z
    .enum(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'])
    .default('info'),
});
export type BaseConfig = z.infer<typeof BaseConfig>;

/** An environment variable holding JSON, parsed and then validated by `schema`. */
export const jsonEnv = <T extends z.ZodType>(schema: T) =>
  z
    .string()
    .transform((s, ctx) => {
      try {
        return JSON.parse(s) as unknown;
      } catch {
        ctx.addIssue({ code: 'custom', message: 'not valid JSON' });
        return z.NEVER;
      }
    })
    .pipe(schema);

export class ConfigError extends Error {
  override name = 'ConfigError';
  readonly code = 'CONFIG_INVALID';
}

/** Parse env with a schema; on failure, one message listing every bad variable (values never printed). */
export function parseConfig<S extends z.ZodType>(
  schema: S,
  env: Record<string, string | undefined>,
): z.infer<S> {
  const result = schema.safeParse(env);
  if (result.success) return result.data;
  const problems = result.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
  throw new ConfigError(`invalid configuration: ${problems}`);
}
