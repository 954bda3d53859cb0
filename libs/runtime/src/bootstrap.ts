import { NestFactory } from '@nestjs/core';
import type { LoggerService } from '@nestjs/common';
import type { Logger } from 'pino';

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
}): Promise<void> {
  const { logger } = args;
  process.on('unhandledRejection', (err) => logger.error({ err }, 'unhandled rejection'));
  const app = await NestFactory.createApplicationContext(args.module as never, {
    logger: new PinoNestLogger(logger),
    abortOnError: false,
  });
  await app.init();
  let closing = false;
  const shutdown = (signal: string) => {
    if (closing) return;
    closing = true;
    logger.info({ signal }, 'shutting down');
    setTimeout(() => {
      logger.error('shutdown took too long; exiting');
      process.exit(1);
    }, args.graceMs ?? 20_000).unref();
    void (async () => {
      try {
        await app.close();
        await args.telemetry?.shutdown();
        logger.info('stopped');
        process.exit(0);
      } catch (err) {
        logger.error({ err }, 'shutdown failed');
        process.exit(1);
      }
    })();
  };
  process.once('SIGTERM', () => shutdown('SIGTERM'));
  process.once('SIGINT', () => shutdown('SIGINT'));
  logger.info('service started');
}
