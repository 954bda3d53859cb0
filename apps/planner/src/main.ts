import { telemetry } from './instrument';
import 'reflect-metadata';
import { bootstrapService, parseConfig } from '@keel/runtime';
import { createLogger } from '@keel/telemetry';
import { PlannerConfig } from './config';
import { PlannerModule } from './planner.module';

const config = parseConfig(PlannerConfig, process.env);
const logger = createLogger({ service: 'planner', level: config.KEEL_LOG_LEVEL });
bootstrapService({
  serviceName: 'planner',
  module: PlannerModule.forRoot(config, logger),
  logger,
  telemetry,
}).catch((err: unknown) => {
  logger.fatal({ err }, 'planner failed to start');
  process.exit(1);
});
