import { telemetry } from './instrument';
import 'reflect-metadata';
import { bootstrapService, parseConfig } from '@keel/runtime';
import { createLogger } from '@keel/telemetry';
import { OutboxConfig } from './config';
import { OutboxModule } from './outbox.module';

const config = parseConfig(OutboxConfig, process.env);
const logger = createLogger({ service: 'outbox', level: config.KEEL_LOG_LEVEL });
bootstrapService({
  serviceName: 'outbox',
  module: OutboxModule.forRoot(config, logger),
  logger,
  telemetry,
}).catch((err: unknown) => {
  logger.fatal({ err }, 'outbox failed to start');
  process.exit(1);
});
