import type { Logger } from 'pino';

/**
 * A service's shutdown, shared by every Nest entry point (application context
 * or HTTP): on the first SIGTERM/SIGINT close `app` (consumers stop pulling
 * and finish in-flight messages, HTTP stops taking connections, then NATS and
 * PostgreSQL close), flush telemetry and exit 0; a failing shutdown exits 1,
 * and one that hangs is cut off after `graceMs` (default 20 s).
 */
export function shutdownOnSignal(args: {
  app: { close(): Promise<void> };
  logger: Logger;
  telemetry?: { shutdown(): Promise<void> };
  graceMs?: number;
}): void {
  const { app, logger } = args;
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
}
