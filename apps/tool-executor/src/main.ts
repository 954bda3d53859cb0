import { telemetry } from './instrument';
import 'reflect-metadata';
import { runService } from '@keel/runtime';
import { ToolExecutorConfig } from './config';
import { ToolExecutorModule } from './tool-executor.module';

runService({
  name: 'tool-executor',
  config: ToolExecutorConfig,
  module: (config, logger) => ToolExecutorModule.forRoot(config, logger),
  env: process.env,
  telemetry,
});
