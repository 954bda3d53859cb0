// Before any module builds a zod schema: every schema built after this parses through zod's
// ahead-of-time compiled fast path, and falls back to the regular parser (its errors) for
// input the fast path rejects (docs/performance.md, "Zod's compiled parsers").
import 'zod/compile';
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
