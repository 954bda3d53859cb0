import { telemetry } from './instrument';
import 'reflect-metadata';
import { runService } from '@keel/runtime';
import { OutboxConfig } from './config';
import { OutboxModule } from './outbox.module';

runService({
  name: 'outbox',
  config: OutboxConfig,
  module: (config, logger) => OutboxModule.forRoot(config, logger),
  env: process.env,
  telemetry,
});
