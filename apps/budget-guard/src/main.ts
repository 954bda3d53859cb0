import { telemetry } from './instrument';
import 'reflect-metadata';
import { BaseConfig, bootstrapService, parseConfig } from '@keel/runtime';
import { createLogger } from '@keel/telemetry';
import { BudgetGuardModule } from './budget-guard.module';

const config = parseConfig(BaseConfig, process.env);
const logger = createLogger({ service: 'budget-guard', level: config.KEEL_LOG_LEVEL });
bootstrapService({
  serviceName: 'budget-guard',
  module: BudgetGuardModule.forRoot(config, logger),
  logger,
  telemetry,
}).catch((err: unknown) => {
  logger.fatal({ err }, 'budget-guard failed to start');
  process.exit(1);
});
