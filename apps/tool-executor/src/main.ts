import { telemetry } from './instrument';
import 'reflect-metadata';
import { bootstrapService, parseConfig } from '@keel/runtime';
import { createLogger } from '@keel/telemetry';
import { ToolExecutorConfig } from './config';
import { ToolExecutorModule } from './tool-executor.module';

const config = parseConfig(ToolExecutorConfig, process.env);
const logger = createLogger({ service: 'tool-executor', level: config.KEEL_LOG_LEVEL });
bootstrapService({
  serviceName: 'tool-executor',
  module: ToolExecutorModule.forRoot(config, logger),
  logger,
  telemetry,
}).catch((err: unknown) => {
  logger.fatal({ err }, 'tool-executor failed to start');
  process.exit(1);
});
