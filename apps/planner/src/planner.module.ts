import {
  Inject,
  Module,
  type DynamicModule,
  type OnApplicationBootstrap,
  type OnModuleDestroy,
} from '@nestjs/common';
import type { NatsConnection } from 'nats';
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import {
  CancelRunCommand,
  MAX_RUN_REQUEST_BYTES,
  ReviewDecisionCommand,
  type KeelNames,
} from '@keel/contracts';
import { ConsumerHost, NATS_CONNECTION } from '@keel/messaging';
import {
  keelServiceModules,
  AggregateCache,
  AppendBatcher,
  ReadBatcher,
  FastPublisher,
  BreakerSuccessReporter,
  FleetBreakerWatch,
  LOGGER,
  NAMES,
  loadMcpTools,
  PG_POOL,
  plannerConsumers,
} from '@keel/runtime';
import { isFinal, type RunState } from '@keel/run-domain';
import { builtinTools, ToolRegistry } from '@keel/tools';
import { BudgetClient } from './budget/budget-client';
import { ReservationsAhead } from './budget/reservations-ahead';
import { modelMapOf, PLANNER_CONFIG, type PlannerConfig } from './config';
import { runCommandHandlers } from './handlers/run-commands.handler';
import { runRequestHandler } from './handlers/run-request.handler';
import { toolOutcomeHandler } from './handlers/tool-outcome.handler';
import { wakeupHandler } from './handlers/wakeup.handler';
import { createModelClient } from './model/create-model-client';
import { ModelRouter } from './model/model-router';
import { RunDriver } from './run-driver';

const RUN_DRIVER = Symbol('RUN_DRIVER');
const TOOLS = Symbol('TOOLS');
const FLEET_BREAKERS = Symbol('FLEET_BREAKERS');

/** Registers the planner's consumers (run requests, tool outcomes, wake-ups) and command servers. */
class PlannerConsumers implements OnApplicationBootstrap, OnModuleDestroy {
  constructor(
    @Inject(FLEET_BREAKERS) private readonly fleet: FleetBreakerWatch,
    @Inject(ConsumerHost) private readonly host: ConsumerHost,
    @Inject(NAMES) private readonly names: KeelNames,
    @Inject(RUN_DRIVER) private readonly driver: RunDriver,
    @Inject(TOOLS) private readonly tools: ToolRegistry,
    @Inject(PLANNER_CONFIG) private readonly config: PlannerConfig,
  ) {}

  onModuleDestroy(): void {
    this.fleet.stop();
  }

  async onApplicationBootstrap(): Promise<void> {
    const { names, driver, config, tools } = this;
    await this.fleet.start();
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
    await this.host.start({
      ...consumers.wakeups,
      concurrency,
      handler: wakeupHandler({ names, driver }),
    });
    // A deadline the guard's sweeper fired: drive the run, which then ends it.
    await this.host.start({
      ...consumers.deadlines,
      concurrency,
      handler: wakeupHandler({ names, driver }),
    });
    // The kill switch was released: drive the paused run again.
    await this.host.start({
      ...consumers.resumes,
      concurrency,
      handler: wakeupHandler({ names, driver }),
    });
    const commands = runCommandHandlers({ driver, tools });
    this.host.serve({
      subject: names.subjects.runReview.pattern,
      queue: 'planner',
      schema: ReviewDecisionCommand,
      handler: commands.review,
    });
    this.host.serve({
      subject: names.subjects.runCancel.pattern,
      queue: 'planner',
      schema: CancelRunCommand,
      handler: commands.cancel,
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
          provide: FLEET_BREAKERS,
          inject: [NATS_CONNECTION, NAMES, LOGGER],
          useFactory: (nc: NatsConnection, names: KeelNames, log: Logger) =>
            new FleetBreakerWatch(
              nc,
              names,
              log.child({ component: 'fleet-breakers' }),
              config.KEEL_NATS_PROVISION,
            ),
        },
        {
          // The planner only offers tools (names, schemas, pools): MCP servers are listed, then closed.
          provide: TOOLS,
          inject: [LOGGER],
          useFactory: async (log: Logger) => {
            const mcp = await loadMcpTools(config.KEEL_MCP_SERVERS, log);
            await mcp.close();
            return new ToolRegistry([...builtinTools(), ...mcp.tools]);
          },
        },
        {
          provide: RUN_DRIVER,
          inject: [PG_POOL, NATS_CONNECTION, NAMES, LOGGER, TOOLS, FLEET_BREAKERS],
          useFactory: (
            pool: Pool,
            nc: NatsConnection,
            names: KeelNames,
            log: Logger,
            tools: ToolRegistry,
            fleet: FleetBreakerWatch,
          ) => {
            const map = modelMapOf(config);
            const budget = new BudgetClient(nc, names, config.KEEL_BUDGET_TIMEOUT_MS);
            return new RunDriver({
              pool,
              log,
              cache: new AggregateCache<RunState>(5_000, (s) => !isFinal(s)),
              publisher: new FastPublisher(nc, names, {
                owns: ['run'],
                breakers: new BreakerSuccessReporter(nc, names, fleet.view),
              }),
              batcher: new AppendBatcher(pool),
              reader: new ReadBatcher(pool),
              tools,
              budget,
              ahead: new ReservationsAhead(budget),
              router: new ModelRouter(map, {
                fleet: fleet.view,
                createClient: (provider, model) =>
                  createModelClient(config, map, provider, model, process.env),
                breaker: {
                  failureThreshold: config.KEEL_MODEL_BREAKER_FAILURES,
                  coolDownMs: config.KEEL_MODEL_BREAKER_COOLDOWN_MS,
                },
                log,
              }),
              policy: {
                review: {
                  enabled: config.reviewEnabled,
                  minConfidence: config.KEEL_REVIEW_MIN_CONFIDENCE,
                  highStakesTools: config.KEEL_REVIEW_TOOLS,
                },
                retry: {
                  maxAttempts: config.KEEL_MODEL_MAX_ATTEMPTS,
                  baseMs: config.KEEL_MODEL_RETRY_BASE_MS,
                  capMs: config.KEEL_MODEL_RETRY_CAP_MS,
                  maxRetryAfterMs: config.KEEL_MODEL_MAX_RETRY_AFTER_MS,
                },
                maxInvalidOutputs: config.KEEL_MODEL_OUTPUT_ATTEMPTS,
                invalidOutputEscalation: config.KEEL_INVALID_OUTPUT_ESCALATION,
                maxOutputTokens: config.KEEL_MODEL_MAX_OUTPUT_TOKENS,
                contextTokens: config.KEEL_MODEL_CONTEXT_TOKENS,
                reserveAheadTokensPerTool: config.KEEL_RESERVE_AHEAD_TOKENS_PER_TOOL,
              },
            });
          },
        },
        PlannerConsumers,
      ],
    };
  }
}
