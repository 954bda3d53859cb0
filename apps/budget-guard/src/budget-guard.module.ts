import {
  Inject,
  Module,
  type DynamicModule,
  type OnApplicationBootstrap,
  type OnModuleDestroy,
} from '@nestjs/common';
import type { JetStreamClient, NatsConnection } from 'nats';
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import { ReserveBudgetRequest, SettleBudgetRequest, type KeelNames } from '@keel/contracts';
import { JETSTREAM, NATS_CONNECTION, serveJson } from '@keel/messaging';
import {
  keelServiceModules,
  AggregateCache,
  AppendBatcher,
  type BaseConfig,
  FastPublisher,
  LOGGER,
  NAMES,
  PG_POOL,
} from '@keel/runtime';
import type { BudgetState } from '@keel/budget-domain';
import { reserve, settle } from './budget-handlers';

/** Answers reserve/settle requests in a queue group, so replicas share them. */
class BudgetResponders implements OnApplicationBootstrap, OnModuleDestroy {
  private handles: { stop(): Promise<void> }[] = [];
  constructor(
    @Inject(NATS_CONNECTION) private readonly nc: NatsConnection,
    @Inject(JETSTREAM) private readonly js: JetStreamClient,
    @Inject(PG_POOL) private readonly pool: Pool,
    @Inject(NAMES) private readonly names: KeelNames,
    @Inject(LOGGER) private readonly log: Logger,
  ) {}

  onApplicationBootstrap(): void {
    const { nc, pool, names, log } = this;
    const deps = {
      pool,
      cache: new AggregateCache<BudgetState>(),
      publisher: new FastPublisher(this.js, names),
      batcher: new AppendBatcher(pool),
    };
    this.handles = [
      serveJson(nc, names.subjects.budgetReserve.pattern, {
        queue: 'budget-guard',
        schema: ReserveBudgetRequest,
        handler: (req) => reserve(deps, req),
        logger: log,
      }),
      serveJson(nc, names.subjects.budgetSettle.pattern, {
        queue: 'budget-guard',
        schema: SettleBudgetRequest,
        handler: (req) => settle(deps, req),
        logger: log,
      }),
    ];
  }

  async onModuleDestroy(): Promise<void> {
    await Promise.all(this.handles.map((h) => h.stop()));
  }
}

@Module({})
export class BudgetGuardModule {
  static forRoot(config: BaseConfig, logger: Logger): DynamicModule {
    return {
      module: BudgetGuardModule,
      imports: keelServiceModules({ config, serviceName: 'budget-guard', logger }),
      providers: [BudgetResponders],
    };
  }
}
