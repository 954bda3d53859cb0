import { Inject, Module, type DynamicModule, type OnApplicationBootstrap } from '@nestjs/common';
import type { JetStreamClient, NatsConnection } from 'nats';
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import { MAX_RUN_REQUEST_BYTES, type KeelNames } from '@keel/contracts';
import { ConsumerHost, JETSTREAM, NATS_CONNECTION } from '@keel/messaging';
import {
  keelServiceModules,
  AggregateCache,
  AppendBatcher,
  FastPublisher,
  LOGGER,
  NAMES,
  PG_POOL,
  plannerConsumers,
} from '@keel/runtime';
import { isFinal, type RunState } from '@keel/run-domain';
import { builtinTools, ToolRegistry } from '@keel/tools';
import { BudgetClient } from './budget/budget-client';
import { PLANNER_CONFIG, type PlannerConfig } from './config';
import { runRequestHandler } from './handlers/run-request.handler';
import { toolOutcomeHandler } from './handlers/tool-outcome.handler';
import { OpenAiChatModel } from './model/openai-chat-model';
import { RunDriver } from './run-driver';

const RUN_DRIVER = Symbol('RUN_DRIVER');

/** Registers the planner's two consumers: run requests (ingress) and tool-call outcomes. */
class PlannerConsumers implements OnApplicationBootstrap {
  constructor(
    @Inject(ConsumerHost) private readonly host: ConsumerHost,
    @Inject(NAMES) private readonly names: KeelNames,
    @Inject(RUN_DRIVER) private readonly driver: RunDriver,
    @Inject(PLANNER_CONFIG) private readonly config: PlannerConfig,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const { names, driver, config } = this;
    const defaults = {
      maxSteps: config.KEEL_RUN_MAX_STEPS,
      maxToolCalls: config.KEEL_RUN_MAX_TOOL_CALLS,
      maxTokens: config.KEEL_RUN_MAX_TOKENS,
      deadlineMs: config.KEEL_RUN_DEADLINE_MS,
    };
    const concurrency = config.KEEL_PLANNER_CONCURRENCY;
    const consumers = plannerConsumers(names);
    await this.host.start({
      ...consumers.ingress,
      concurrency,
      maxPayloadBytes: MAX_RUN_REQUEST_BYTES,
      handler: runRequestHandler({ names, driver, defaults }),
    });
    await this.host.start({
      ...consumers.toolResults,
      concurrency,
      handler: toolOutcomeHandler({ names, driver }),
    });
  }
}

@Module({})
export class PlannerModule {
  static forRoot(config: PlannerConfig, logger: Logger): DynamicModule {
    return {
      module: PlannerModule,
      imports: keelServiceModules({ config, serviceName: 'planner', logger }),
      providers: [
        { provide: PLANNER_CONFIG, useValue: config },
        {
          provide: RUN_DRIVER,
          inject: [PG_POOL, NATS_CONNECTION, JETSTREAM, NAMES, LOGGER],
          useFactory: (
            pool: Pool,
            nc: NatsConnection,
            js: JetStreamClient,
            names: KeelNames,
            log: Logger,
          ) =>
            new RunDriver({
              pool,
              log,
              cache: new AggregateCache<RunState>(5_000, (s) => !isFinal(s)),
              publisher: new FastPublisher(js, names),
              batcher: new AppendBatcher(pool),
              tools: new ToolRegistry(builtinTools),
              budget: new BudgetClient(nc, names, config.KEEL_BUDGET_TIMEOUT_MS),
              model: new OpenAiChatModel(
                {
                  baseURL: config.KEEL_MODEL_BASE_URL,
                  apiKey: config.KEEL_MODEL_API_KEY,
                  timeoutMs: config.KEEL_MODEL_TIMEOUT_MS,
                },
                config.KEEL_MODEL_NAME,
              ),
              maxOutputTokens: config.KEEL_MODEL_MAX_OUTPUT_TOKENS,
            }),
        },
        PlannerConsumers,
      ],
    };
  }
}
