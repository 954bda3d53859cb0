import { NestFactory } from '@nestjs/core';
import type { NestExpressApplication } from '@nestjs/platform-express';
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { Logger } from 'pino';
import { MAX_RUN_REQUEST_BYTES } from '@keel/contracts';
import { shutdownOnSignal } from '@keel/runtime';
import { ApiErrorFilter } from './error-filter';

/**
 * Start the API as a Nest HTTP application on `host:port`. SIGTERM/SIGINT:
 * stop taking connections, end event streams, stop the projector (in-flight
 * messages finish), close NATS and PostgreSQL, flush telemetry, exit. A
 * shutdown that hangs is cut off after `graceMs`.
 */
export async function serveHttp(args: {
  module: unknown;
  logger: Logger;
  host: string;
  port: number;
  telemetry?: { shutdown(): Promise<void> };
  graceMs?: number;
}): Promise<void> {
  const { logger } = args;
  process.on('unhandledRejection', (err) => logger.error({ err }, 'unhandled rejection'));
  const app = await NestFactory.create<NestExpressApplication>(args.module as never, {
    logger: false,
    abortOnError: false,
  });
  app.disable('x-powered-by');
  // Room for the largest run request the ingress accepts, plus JSON escaping.
  app.useBodyParser('json', { limit: MAX_RUN_REQUEST_BYTES + 64 * 1024 });
  app.useGlobalFilters(new ApiErrorFilter(logger.child({ component: 'http' })));
  app.use(requestLog(logger.child({ component: 'http' })));
  await app.listen(args.port, args.host);
  const address = app.getHttpServer().address();
  const port = typeof address === 'object' && address ? address.port : args.port;

  shutdownOnSignal({ app, logger, telemetry: args.telemetry, graceMs: args.graceMs });
  logger.info({ url: `http://${args.host}:${port}` }, 'service started');
}

/** One debug line per request: method, path, status, duration. Never headers or bodies. */
function requestLog(log: Logger) {
  return (req: IncomingMessage, res: ServerResponse, next: () => void) => {
    const started = performance.now();
    res.on('finish', () =>
      log.debug(
        {
          method: req.method,
          path: (req.url ?? '').split('?')[0],
          status: res.statusCode,
          ms: Math.round(performance.now() - started),
        },
        'request',
      ),
    );
    next();
  };
}
