// Before any module builds a zod schema: every schema built after this parses through zod's
// ahead-of-time compiled fast path, and falls back to the regular parser (its errors) for
// input the fast path rejects (docs/performance.md, "Zod's compiled parsers").
import 'zod/compile';
import { telemetry } from './instrument';
import 'reflect-metadata';
import { parseConfig } from '@keel/runtime';
import { createLogger } from '@keel/telemetry';
import { ApiModule } from './api.module';
import { ApiConfig } from './config';
import { serveHttp } from './http/serve-http';

// The composition root: the only place that reads process.env.
let logger: ReturnType<typeof createLogger> | undefined;
try {
  const config = parseConfig(ApiConfig, process.env);
  logger = createLogger({ service: 'api', level: config.KEEL_LOG_LEVEL });
  const log = logger;
  serveHttp({
    module: ApiModule.forRoot(config, log),
    logger: log,
    host: config.KEEL_API_HOST,
    port: config.KEEL_API_PORT,
    telemetry,
  }).catch((err: unknown) => {
    log.fatal({ err }, 'api failed to start');
    process.exit(1);
  });
} catch (err) {
  if (logger) logger.fatal({ err }, 'api failed to start');
  else console.error(`api failed to start: ${err instanceof Error ? err.message : String(err)}`);
  process.exit(1);
}
