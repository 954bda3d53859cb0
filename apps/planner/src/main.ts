import { telemetry } from './instrument';
import 'reflect-metadata';
import { runService } from '@keel/runtime';
import { PlannerConfig } from './config';
import { PlannerModule } from './planner.module';

runService({
  name: 'planner',
  config: PlannerConfig,
  module: (config, logger) => PlannerModule.forRoot(config, logger),
  env: process.env,
  telemetry,
});
