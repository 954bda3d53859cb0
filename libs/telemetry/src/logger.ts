import { hostname } from 'node:os';
import pino, { type DestinationStream, type Logger, type LevelWithSilent } from 'pino';
import { isSpanContextValid, trace } from '@opentelemetry/api';
import { currentLogContext } from './log-context';
import { TelemetryConfigError } from './errors';

export type { Logger } from 'pino';

export interface LoggerOptions {
  /** Written as `service` on every line. */
  service: string;
  /** Default: `KEEL_LOG_LEVEL`, else `info`. */
  level?: LevelWithSilent;
  /** Where lines go; default stdout (synchronous, so nothing is lost on exit). Tests pass a stream. */
  destination?: DestinationStream;
}

const SECRET_KEYS = ['apiKey', 'api_key', 'authorization', 'password', 'token', 'secret', 'cookie'];

/**
 * Redacted paths. Contract: a secret is logged only under one of these keys,
 * at the top level or one level down (`{ apiKey }`, `{ config: { apiKey } }`),
 * or as an HTTP header; anything else is the caller's bug.
 */
export const REDACTED_PATHS: readonly string[] = [
  ...SECRET_KEYS,
  ...SECRET_KEYS.map((k) => `*.${k}`),
  'headers.authorization',
  'headers.cookie',
  'headers["x-api-key"]',
  '*.headers.authorization',
  '*.headers.cookie',
  '*.headers["x-api-key"]',
];

export const REDACTED = '[redacted]';

/**
 * A JSON logger (pino). Every line carries `service`, and, when present, the
 * active span's `trace_id`/`span_id` and the log context's `run_id`/`step`,
 * so logs join traces and runs without each call site passing them.
 */
export function createLogger(options: LoggerOptions): Logger {
  const level = options.level ?? parseLevel(process.env['KEEL_LOG_LEVEL']) ?? 'info';
  return pino(
    {
      level,
      base: { service: options.service, pid: process.pid, hostname: hostname() },
      timestamp: pino.stdTimeFunctions.isoTime,
      formatters: { level: (label) => ({ level: label }) },
      redact: { paths: [...REDACTED_PATHS], censor: REDACTED },
      mixin: correlationFields,
    },
    options.destination ?? pino.destination({ dest: 1, sync: true }),
  );
}

/** The fields the mixin adds; exported for tests and for non-pino sinks. */
export function correlationFields(): Record<string, string | number> {
  const fields: Record<string, string | number> = {};
  const spanContext = trace.getActiveSpan()?.spanContext();
  if (spanContext && isSpanContextValid(spanContext)) {
    fields['trace_id'] = spanContext.traceId;
    fields['span_id'] = spanContext.spanId;
  }
  const logContext = currentLogContext();
  if (logContext) {
    fields['run_id'] = logContext.runId;
    if (logContext.step !== undefined) fields['step'] = logContext.step;
  }
  return fields;
}

const LEVELS: readonly string[] = ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'];

/** A typo in KEEL_LOG_LEVEL fails start-up rather than silently logging at another level. */
function parseLevel(value: string | undefined): LevelWithSilent | undefined {
  const v = value?.trim().toLowerCase();
  if (!v) return undefined;
  if (!LEVELS.includes(v)) {
    throw new TelemetryConfigError(
      'INVALID_LOG_LEVEL',
      `KEEL_LOG_LEVEL must be one of ${LEVELS.join(', ')}, got '${value}'`,
    );
  }
  return v as LevelWithSilent;
}
