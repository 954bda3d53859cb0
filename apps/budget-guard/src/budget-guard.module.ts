import { Inject, Module, type DynamicModule, type OnApplicationBootstrap } from '@nestjs/common';
import type { JetStreamClient } from 'nats';
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import { ReserveBudgetRequest, SettleBudgetRequest, type KeelNames } from '@keel/contracts';
import { ConsumerHost, JETSTREAM } from '@keel/messaging';
import {
  keelServiceModules,
  AggregateCache,
  AppendBatcher,
  type BaseConfig,
  FastPublisher,
  NAMES,
  PG_POOL,
} from '@keel/runtime';
import type { BudgetState } from '@keel/budget-domain';
import { reserve, settle } from './budget-handlers';

/**
 * Answers reserve/settle requests in a queue group, so replicas share them.
 * The ConsumerHost owns the servers: it stops them on shutdown, before the
 * connection drains and the pool closes.
 */
class BudgetResponders implements OnApplicationBootstrap {
  constructor(
    @Inject(ConsumerHost) private readonly host: ConsumerHost,
    @Inject(JETSTREAM) private readonly js: JetStreamClient,
    @Inject(PG_POOL) private readonly pool: Pool,
    @Inject(NAMES) private readonly names: KeelNames,
  ) {}

  onApplicationBootstrap(): void {
    const { pool, names } = this;
    const deps = {
      pool,
      cache: new AggregateCache<BudgetState>(),
      publisher: new FastPublisher(this.js, names),
      batcher: new AppendBatcher(pool),
    };
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
  static forRoot(config: BaseConfig, logger: Logger): DynamicModule {
    return {
      module: BudgetGuardModule,
      imports: keelServiceModules({ config, serviceName: 'budget-guard', logger }),
      providers: [BudgetResponders],
    };
  }
}
