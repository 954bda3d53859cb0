import {
  Inject,
  Module,
  type DynamicModule,
  type OnApplicationBootstrap,
  type OnModuleDestroy,
} from '@nestjs/common';
import type { JetStreamClient } from 'nats';
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import type { KeelNames } from '@keel/contracts';
import { JETSTREAM } from '@keel/messaging';
import { keelServiceModules, LOGGER, NAMES, PG_POOL } from '@keel/runtime';
import type { OutboxConfig } from './config';
import { Relay } from './relay';

const CONFIG = Symbol('OUTBOX_CONFIG');

class RelayRunner implements OnApplicationBootstrap, OnModuleDestroy {
  private relay: Relay | undefined;
  constructor(
    @Inject(PG_POOL) private readonly pool: Pool,
    @Inject(JETSTREAM) private readonly js: JetStreamClient,
    @Inject(NAMES) private readonly names: KeelNames,
    @Inject(LOGGER) private readonly log: Logger,
    @Inject(CONFIG) private readonly config: OutboxConfig,
  ) {}

  onApplicationBootstrap(): void {
    this.relay = new Relay({
      pool: this.pool,
      js: this.js,
      names: this.names,
      log: this.log.child({ component: 'relay' }),
      schema: this.config.KEEL_DB_SCHEMA,
      batchSize: this.config.KEEL_RELAY_BATCH_SIZE,
      pollIntervalMs: this.config.KEEL_RELAY_POLL_MS,
      coalesceMs: this.config.KEEL_RELAY_COALESCE_MS,
    });
    this.relay.start();
  }

  async onModuleDestroy(): Promise<void> {
    await this.relay?.stop();
  }
}

@Module({})
export class OutboxModule {
  static forRoot(config: OutboxConfig, logger: Logger): DynamicModule {
    return {
      module: OutboxModule,
      imports: keelServiceModules({ config, serviceName: 'outbox', logger }),
      providers: [{ provide: CONFIG, useValue: config }, RelayRunner],
    };
  }
}
