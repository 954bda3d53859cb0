import {
  Inject,
  Module,
  type DynamicModule,
  type OnApplicationBootstrap,
  type OnModuleDestroy,
} from '@nestjs/common';
import { APP_GUARD } from '@nestjs/core';
import type { NatsConnection } from 'nats';
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import type { KeelNames } from '@keel/contracts';
import { ConsumerHost, NATS_CONNECTION } from '@keel/messaging';
import { storeApiKey } from '@keel/projections/store';
import {
  apiProjectorConsumer,
  FastPublisher,
  keelServiceModules,
  LOGGER,
  NAMES,
  PG_POOL,
} from '@keel/runtime';
import { ApiKeyGuard } from './auth/api-key.guard';
import type { ApiConfig } from './config';
import { DlqController } from './dlq/dlq.controller';
import { projectorHandler } from './projector/projector.handler';
import { EventStreams } from './runs/event-stream';
import { RunsController } from './runs/runs.controller';
import { SystemController } from './system.controller';
import { API_CONFIG, EVENT_STREAMS } from './tokens';

/** Starts the projector consumer; stores the bootstrap keys (hashed) first. */
class ProjectorRunner implements OnApplicationBootstrap {
  constructor(
    @Inject(ConsumerHost) private readonly host: ConsumerHost,
    @Inject(PG_POOL) private readonly pool: Pool,
    @Inject(NATS_CONNECTION) private readonly nc: NatsConnection,
    @Inject(NAMES) private readonly names: KeelNames,
    @Inject(LOGGER) private readonly log: Logger,
    @Inject(API_CONFIG) private readonly config: ApiConfig,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const c = this.config;
    for (const k of c.KEEL_API_BOOTSTRAP_KEYS ?? [])
      await storeApiKey(this.pool, { key: k.key, tenant: k.tenant, role: k.role, name: k.name });
    if (c.KEEL_API_BOOTSTRAP_KEYS?.length)
      this.log.info({ count: c.KEEL_API_BOOTSTRAP_KEYS.length }, 'bootstrap API keys stored');
    const spec = apiProjectorConsumer(this.names);
    const publicUrl = c.KEEL_API_PUBLIC_URL ?? `http://${c.KEEL_API_HOST}:${c.KEEL_API_PORT}`;
    await this.host.start({
      ...spec,
      concurrency: c.KEEL_API_PROJECTOR_CONCURRENCY,
      handler: projectorHandler({
        pool: this.pool,
        log: this.log.child({ component: 'projector' }),
        publisher: new FastPublisher(this.nc, this.names),
        reviewWebhook: c.KEEL_REVIEW_WEBHOOK_URL
          ? { url: c.KEEL_REVIEW_WEBHOOK_URL, publicUrl }
          : undefined,
      }),
    });
  }
}

/** Ends open SSE streams first on shutdown, so the HTTP server can close. */
class StreamsCloser implements OnModuleDestroy {
  constructor(@Inject(EVENT_STREAMS) private readonly streams: EventStreams) {}
  onModuleDestroy(): void {
    this.streams.close();
  }
}

@Module({})
export class ApiModule {
  static forRoot(config: ApiConfig, logger: Logger): DynamicModule {
    return {
      module: ApiModule,
      imports: keelServiceModules({ config, serviceName: 'api', logger }),
      controllers: [RunsController, DlqController, SystemController],
      providers: [
        { provide: API_CONFIG, useValue: config },
        {
          provide: EVENT_STREAMS,
          useFactory: (pool: Pool) =>
            new EventStreams(pool, config.KEEL_API_SSE_POLL_MS, logger.child({ component: 'sse' })),
          inject: [PG_POOL],
        },
        {
          provide: APP_GUARD,
          useFactory: (pool: Pool) => new ApiKeyGuard(pool),
          inject: [PG_POOL],
        },
        ProjectorRunner,
        StreamsCloser,
      ],
    };
  }
}
