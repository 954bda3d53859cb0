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
  ReserveBudgetRequest,
  SettleBudgetRequest,
  SpendingHaltCommand,
  SpendingReleaseCommand,
  type KeelNames,
} from '@keel/contracts';
import { ConsumerHost, NATS_CONNECTION } from '@keel/messaging';
import {
  keelServiceModules,
  AggregateCache,
  AppendBatcher,
  FastPublisher,
  LOGGER,
  NAMES,
  PG_POOL,
} from '@keel/runtime';
import type { BudgetState } from '@keel/budget-domain';
import { reserve, settle } from './budget-handlers';
import { BUDGET_GUARD_CONFIG, type BudgetGuardConfig } from './config';
import { FleetBreakers } from './breakers/fleet-breakers';
import { DeadlineSweeper } from './deadline-sweeper';
import { DeadlineTimers } from './deadline-timers';
import { DlqIngestion } from './dlq/dlq-ingestion';
import { SpendingHalts } from './spending-halts';

/**
 * Answers reserve/settle requests in a queue group, so replicas share them.
 * The ConsumerHost owns the servers: it stops them on shutdown, before the
 * connection drains and the pool closes.
 */
class BudgetResponders implements OnApplicationBootstrap, OnModuleDestroy {
  private sweeper: DeadlineSweeper | undefined;
  private timers: DeadlineTimers | undefined;

  constructor(
    @Inject(ConsumerHost) private readonly host: ConsumerHost,
    @Inject(NATS_CONNECTION) private readonly nc: NatsConnection,
    @Inject(PG_POOL) private readonly pool: Pool,
    @Inject(NAMES) private readonly names: KeelNames,
    @Inject(LOGGER) private readonly log: Logger,
    @Inject(BUDGET_GUARD_CONFIG) private readonly config: BudgetGuardConfig,
  ) {}

  async onModuleDestroy(): Promise<void> {
    await this.sweeper?.stop();
    await this.timers?.stop();
  }

  onApplicationBootstrap(): void {
    const { pool, names, config } = this;
    const publisher = new FastPublisher(this.nc, names, { owns: ['budget'] });
    const halts = new SpendingHalts(
      pool,
      this.log.child({ component: 'kill-switch' }),
      publisher,
      config.KEEL_HALT_LEASE_MS,
    );
    this.sweeper = new DeadlineSweeper(
      pool,
      publisher,
      this.log.child({ component: 'deadlines' }),
      config.KEEL_DEADLINE_SWEEP_MS,
    );
    this.sweeper.start();
    const deps = {
      pool,
      cache: new AggregateCache<BudgetState>(),
      publisher,
      batcher: new AppendBatcher(pool),
      config,
      halts,
      timers: (this.timers = new DeadlineTimers(pool, this.log.child({ component: 'deadlines' }))),
    };
    this.host.serve({
      subject: names.subjects.budgetHalt.pattern,
      queue: 'budget-guard',
      schema: SpendingHaltCommand,
      handler: (cmd) => halts.halt(cmd.scope, cmd.reason, cmd.requestedBy),
    });
    this.host.serve({
      subject: names.subjects.budgetRelease.pattern,
      queue: 'budget-guard',
      schema: SpendingReleaseCommand,
      handler: (cmd) => halts.release(cmd.scope, cmd.requestedBy),
    });
    this.host.serve({
      subject: names.subjects.budgetReserve.pattern,
      queue: 'budget-guard',
      schema: ReserveBudgetRequest,
      handler: (req) => reserve(deps, req),
    });
    this.host.serve({
      subject: names.subjects.budgetSettle.pattern,
      queue: 'budget-guard',
      schema: SettleBudgetRequest,
      handler: (req) => settle(deps, req),
    });
  }
}

@Module({})
export class BudgetGuardModule {
  static forRoot(config: BudgetGuardConfig, logger: Logger): DynamicModule {
    return {
      module: BudgetGuardModule,
      imports: keelServiceModules({ config, serviceName: 'budget-guard', logger }),
      providers: [
        { provide: BUDGET_GUARD_CONFIG, useValue: config },
        BudgetResponders,
        DlqIngestion,
        FleetBreakers,
      ],
    };
  }
}
