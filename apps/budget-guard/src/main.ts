import { telemetry } from './instrument';
import 'reflect-metadata';
import { runService } from '@keel/runtime';
import { BudgetGuardConfig } from './config';
import { BudgetGuardModule } from './budget-guard.module';

runService({
  name: 'budget-guard',
  config: BudgetGuardConfig,
  module: (config, logger) => BudgetGuardModule.forRoot(config, logger),
  env: process.env,
  telemetry,
});
