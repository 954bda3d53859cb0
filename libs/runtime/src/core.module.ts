import { Inject, Module, type DynamicModule, type OnApplicationShutdown } from '@nestjs/common';
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import { keelNames } from '@keel/contracts';
import { createPool, migrate } from '@keel/event-store';
import { MessagingModule } from '@keel/messaging';
import type { BaseConfig } from './config';
import { BASE_CONFIG, LOGGER, NAMES, PG_POOL } from './tokens';

/** Closes the PostgreSQL pool last, after consumers have drained. */
class PoolCloser implements OnApplicationShutdown {
  constructor(
    @Inject(PG_POOL) private readonly pool: Pool,
    @Inject(LOGGER) private readonly log: Logger,
  ) {}
  async onApplicationShutdown(): Promise<void> {
    await this.pool.end();
    this.log.info('postgres pool closed');
  }
}

/**
 * Config, logger, names and the PostgreSQL pool for a service. Migrations run
 * while the pool is created (advisory-locked, so replicas may start together).
 */
@Module({})
export class KeelCoreModule {
  static forRoot(opts: { config: BaseConfig; serviceName: string; logger: Logger }): DynamicModule {
    const { config } = opts;
    return {
      module: KeelCoreModule,
      global: true,
      providers: [
        { provide: BASE_CONFIG, useValue: config },
        { provide: LOGGER, useValue: opts.logger },
        { provide: NAMES, useValue: keelNames(config.KEEL_PREFIX) },
        {
          provide: PG_POOL,
          useFactory: async () => {
            const pool = createPool({
              connectionString: config.KEEL_DATABASE_URL,
              schema: config.KEEL_DB_SCHEMA,
              max: config.KEEL_DB_POOL_SIZE,
              applicationName: opts.serviceName,
            });
            pool.on('error', (err) =>
              opts.logger.warn({ err: err.message }, 'idle postgres client error'),
            );
            const applied = await migrate(pool, config.KEEL_DB_SCHEMA);
            if (applied.length > 0) opts.logger.info({ applied }, 'migrations applied');
            return pool;
          },
        },
        PoolCloser,
      ],
      exports: [BASE_CONFIG, LOGGER, NAMES, PG_POOL],
    };
  }
}

/**
 * The modules every Keel service imports: config, logger, PostgreSQL (with
 * migrations) and NATS (connection, streams, ConsumerHost).
 */
export function keelServiceModules(opts: {
  config: BaseConfig;
  serviceName: string;
  logger: Logger;
}) {
  return [KeelCoreModule.forRoot(opts), MessagingModule.forRoot(opts)];
}
