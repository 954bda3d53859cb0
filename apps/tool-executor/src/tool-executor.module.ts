import {
  Inject,
  Module,
  type DynamicModule,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
} from '@nestjs/common';
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import type { KeelNames } from '@keel/contracts';
import { ConsumerHost, NATS_CONNECTION } from '@keel/messaging';
import type { NatsConnection } from 'nats';
import { CapabilityCache } from './capability-cache';
import {
  AppendBatcher,
  ReadBatcher,
  FastPublisher,
  BreakerSuccessReporter,
  FleetBreakerWatch,
  keelServiceModules,
  LOGGER,
  NAMES,
  PG_POOL,
  compensationConsumers,
  loadMcpTools,
  toolPoolConsumer,
} from '@keel/runtime';
import { ToolRegistry, type McpToolSet } from '@keel/tools';
import { builtinToolsFor } from './builtin-tools';
import { PoolResourceSet } from './call/pool-resources';
import { RunLookups } from './call/run-lookups';
import { ToolBreakers } from './call/tool-breakers';
import type { ToolExecutorConfig } from './config';
import { compensationHandler } from './saga/compensation.handler';
import { toolCallHandler } from './tool-call.handler';

const REGISTRY = Symbol('REGISTRY');
const CONFIG = Symbol('TOOL_EXECUTOR_CONFIG');
const RESOURCES = Symbol('POOL_RESOURCES');
const MCP = Symbol('MCP_TOOLS');

/** One durable consumer per pool, each with its own concurrency bound: a hung pool cannot starve another. */
class PoolConsumers implements OnApplicationBootstrap, OnApplicationShutdown {
  constructor(
    @Inject(ConsumerHost) private readonly host: ConsumerHost,
    @Inject(PG_POOL) private readonly pool: Pool,
    @Inject(NAMES) private readonly names: KeelNames,
    @Inject(NATS_CONNECTION) private readonly nc: NatsConnection,
    @Inject(REGISTRY) private readonly tools: ToolRegistry,
    @Inject(LOGGER) private readonly log: Logger,
    @Inject(CONFIG) private readonly config: ToolExecutorConfig,
    @Inject(RESOURCES) private readonly resources: PoolResourceSet,
    @Inject(MCP) private readonly mcp: McpToolSet,
  ) {}

  private fleet: FleetBreakerWatch | undefined;

  /** After the consumers have drained (their hosts stop first). */
  async onApplicationShutdown(): Promise<void> {
    this.fleet?.stop();
    await this.mcp.close();
    await this.resources.close();
  }

  async onApplicationBootstrap(): Promise<void> {
    const { config } = this;
    const reader = new ReadBatcher(this.pool);
    const capabilities = new CapabilityCache(reader);
    this.fleet = new FleetBreakerWatch(
      this.nc,
      this.names,
      this.log.child({ component: 'fleet-breakers' }),
      config.KEEL_NATS_PROVISION,
    );
    await this.fleet.start();
    const publisher = new FastPublisher(this.nc, this.names, {
      owns: ['toolcall', 'compensation'],
      breakers: new BreakerSuccessReporter(this.nc, this.names, this.fleet.view),
    });
    const batcher = new AppendBatcher(this.pool);
    const common = {
      pool: this.pool,
      tools: this.tools,
      capabilities,
      publisher,
      batcher,
      reader,
      resources: this.resources,
      breakers: new ToolBreakers({
        failureThreshold: config.KEEL_TOOL_BREAKER_FAILURES,
        coolDownMs: config.KEEL_TOOL_BREAKER_COOLDOWN_MS,
      }),
      fleet: this.fleet.view,
      lookups: new RunLookups(this.pool),
      runRetryBudget: config.KEEL_RUN_TOOL_RETRY_BUDGET,
      maxRetryAfterMs: config.KEEL_TOOL_MAX_RETRY_AFTER_MS,
    };
    // The saga runner: compensations after failed, cancelled or timed-out runs.
    for (const spec of compensationConsumers(this.names)) {
      await this.host.start({
        ...spec,
        concurrency: 4,
        handler: compensationHandler({
          pool: this.pool,
          tools: this.tools,
          lookups: common.lookups,
          resources: this.resources,
          publisher,
          log: this.log.child({ component: 'saga' }),
        }),
      });
    }
    for (const poolName of this.tools.pools()) {
      await this.host.start({
        ...toolPoolConsumer(this.names, poolName),
        concurrency: config.KEEL_POOL_CONCURRENCY,
        handler: toolCallHandler({ ...common, log: this.log.child({ pool: poolName }) }),
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
        {
          provide: MCP,
          inject: [LOGGER],
          useFactory: (log: Logger) => loadMcpTools(config.KEEL_MCP_SERVERS, log),
        },
        {
          provide: REGISTRY,
          inject: [MCP],
          useFactory: (mcp: McpToolSet) =>
            new ToolRegistry([...builtinToolsFor(config), ...mcp.tools]),
        },
        {
          provide: RESOURCES,
          useFactory: () =>
            new PoolResourceSet({
              databaseUrl: config.KEEL_DATABASE_URL,
              schema: config.KEEL_DB_SCHEMA,
              maxSockets: config.KEEL_POOL_CONCURRENCY,
              dbConnections: config.KEEL_POOL_DB_CONNECTIONS,
            }),
        },
        PoolConsumers,
      ],
    };
  }
}
