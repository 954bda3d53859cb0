import { NestFactory } from '@nestjs/core';
import type { LoggerService } from '@nestjs/common';
import type { Logger } from 'pino';
import type { z } from 'zod';
import { createLogger } from '@keel/telemetry';
import { parseConfig, type BaseConfig } from './config';
import { startRuntimeStats } from './runtime-stats';
import { shutdownOnSignal } from './shutdown-on-signal';

/** Routes Nest's own log lines into the service's pino logger. */
class PinoNestLogger implements LoggerService {
  constructor(private readonly pino: Logger) {}
  log(message: unknown, context?: string) {
    this.pino.debug({ context }, String(message));
  }
  error(message: unknown, trace?: string, context?: string) {
    this.pino.error({ context, trace }, String(message));
  }
  warn(message: unknown, context?: string) {
    this.pino.warn({ context }, String(message));
  }
}

/**
 * Start a service as a Nest application context (no HTTP server): modules,
 * DI and lifecycle only. SIGTERM/SIGINT close the app — consumers stop pulling
 * and finish in-flight messages, then NATS and PostgreSQL close — then flush
 * telemetry and exit. A shutdown that hangs is cut off after `graceMs`.
 */
export async function bootstrapService(args: {
  serviceName: string;
  module: unknown;
  logger: Logger;
  telemetry?: { shutdown(): Promise<void> };
  graceMs?: number;
  statsIntervalMs?: number;
}): Promise<void> {
  const { logger } = args;
  process.on('unhandledRejection', (err) => logger.error({ err }, 'unhandled rejection'));
  const app = await NestFactory.createApplicationContext(args.module as never, {
    logger: new PinoNestLogger(logger),
    abortOnError: false,
  });
  await app.init();
  shutdownOnSignal({ app, logger, telemetry: args.telemetry, graceMs: args.graceMs });
  startRuntimeStats(logger, args.statsIntervalMs ?? 0);
  logger.info('service started');
}

/**
 * A service's whole `main`: parse its config from the environment, create its
 * logger, start its Nest module; on a start-up failure log it and exit 1.
 */
export function runService<S extends z.ZodType<BaseConfig>>(args: {
  name: string;
  config: S;
  module: (config: z.infer<S>, logger: Logger) => unknown;
  env: Record<string, string | undefined>;
  telemetry?: { shutdown(): Promise<void> };
}): void {
  const config = parseConfig(args.config, args.env);
  const logger = createLogger({ service: args.name, level: config.KEEL_LOG_LEVEL });
  bootstrapService({
    serviceName: args.name,
    module: args.module(config, logger),
    logger,
    statsIntervalMs: config.KEEL_STATS_INTERVAL_MS,
    ...(args.telemetry ? { telemetry: args.telemetry } : {}),
  }).catch((err: unknown) => {
    logger.fatal({ err }, `${args.name} failed to start`);
    process.exit(1);
  });
}
