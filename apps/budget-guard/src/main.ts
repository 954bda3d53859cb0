import { telemetry } from './instrument';
import 'reflect-metadata';
import { BaseConfig, runService } from '@keel/runtime';
import { BudgetGuardModule } from './budget-guard.module';

runService({
  name: 'budget-guard',
  config: BaseConfig,
  module: (config, logger) => BudgetGuardModule.forRoot(config, logger),
  env: process.env,
  telemetry,
});
