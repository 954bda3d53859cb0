import { Inject, Module, type DynamicModule, type OnApplicationBootstrap } from '@nestjs/common';
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import type { KeelNames } from '@keel/contracts';
import { ConsumerHost, JETSTREAM } from '@keel/messaging';
import type { JetStreamClient } from 'nats';
import { CapabilityCache } from './capability-cache';
import {
  AppendBatcher,
  FastPublisher,
  keelServiceModules,
  LOGGER,
  NAMES,
  PG_POOL,
  toolPoolConsumer,
} from '@keel/runtime';
import { builtinTools, ToolRegistry } from '@keel/tools';
import type { ToolExecutorConfig } from './config';
import { toolCallHandler } from './tool-call.handler';

const REGISTRY = Symbol('REGISTRY');
const CONFIG = Symbol('TOOL_EXECUTOR_CONFIG');

/** One durable consumer per pool, each with its own concurrency bound: a hung pool cannot starve another. */
class PoolConsumers implements OnApplicationBootstrap {
  constructor(
    @Inject(ConsumerHost) private readonly host: ConsumerHost,
    @Inject(PG_POOL) private readonly pool: Pool,
    @Inject(NAMES) private readonly names: KeelNames,
    @Inject(JETSTREAM) private readonly js: JetStreamClient,
    @Inject(REGISTRY) private readonly tools: ToolRegistry,
    @Inject(LOGGER) private readonly log: Logger,
    @Inject(CONFIG) private readonly config: ToolExecutorConfig,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const capabilities = new CapabilityCache(this.pool);
    const publisher = new FastPublisher(this.js, this.names);
    const batcher = new AppendBatcher(this.pool);
    for (const poolName of this.tools.pools()) {
      await this.host.start({
        ...toolPoolConsumer(this.names, poolName),
        concurrency: this.config.KEEL_POOL_CONCURRENCY,
        handler: toolCallHandler({
          pool: this.pool,
          tools: this.tools,
          log: this.log.child({ pool: poolName }),
          capabilities,
          publisher,
          batcher,
        }),
      });
    }
  }
}

@Module({})
export class ToolExecutorModule {
  static forRoot(config: ToolExecutorConfig, logger: Logger): DynamicModule {
    return {
      module: ToolExecutorModule,
      imports: keelServiceModules({ config, serviceName: 'tool-executor', logger }),
      providers: [
        { provide: CONFIG, useValue: config },
        { provide: REGISTRY, useFactory: () => new ToolRegistry(builtinTools) },
        PoolConsumers,
      ],
    };
  }
}
