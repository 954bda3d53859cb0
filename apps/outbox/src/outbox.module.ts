import {
  Inject,
  Module,
  type DynamicModule,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
  type OnModuleDestroy,
} from '@nestjs/common';
import type { JetStreamClient, JetStreamManager, NatsConnection } from 'nats';
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import type { KeelNames } from '@keel/contracts';
import { ConsumerHost, JETSTREAM, JETSTREAM_MANAGER, NATS_CONNECTION } from '@keel/messaging';
import {
  deliveryConsumer,
  FastPublisher,
  keelServiceModules,
  LOGGER,
  NAMES,
  PG_POOL,
} from '@keel/runtime';
import { DEFAULT_WEBHOOK_SECRET, type OutboxConfig } from './config';
import { deliveryHandler } from './deliveries/delivery.handler';
import { EmailSender } from './deliveries/email';
import { WebhookSender } from './deliveries/webhook';
import { Relay } from './relay';

const CONFIG = Symbol('OUTBOX_CONFIG');

class RelayRunner implements OnApplicationBootstrap, OnModuleDestroy {
  private relay: Relay | undefined;
  constructor(
    @Inject(PG_POOL) private readonly pool: Pool,
    @Inject(NATS_CONNECTION) private readonly nc: NatsConnection,
    @Inject(JETSTREAM) private readonly js: JetStreamClient,
    @Inject(JETSTREAM_MANAGER) private readonly jsm: JetStreamManager,
    @Inject(NAMES) private readonly names: KeelNames,
    @Inject(LOGGER) private readonly log: Logger,
    @Inject(CONFIG) private readonly config: OutboxConfig,
    @Inject(ConsumerHost) private readonly host: ConsumerHost,
  ) {}

  onApplicationBootstrap(): void {
    this.relay = new Relay({
      pool: this.pool,
      nc: this.nc,
      inboxPrefix: this.config.KEEL_NATS_INBOX_PREFIX,
      js: this.js,
      jsm: this.jsm,
      names: this.names,
      log: this.log.child({ component: 'relay' }),
      schema: this.config.KEEL_DB_SCHEMA,
      batchSize: this.config.KEEL_RELAY_BATCH_SIZE,
      pollIntervalMs: this.config.KEEL_RELAY_POLL_MS,
      graceMs: this.config.KEEL_RELAY_GRACE_MS,
      amnesiaCheckMs: this.config.KEEL_RELAY_AMNESIA_CHECK_MS,
      ensureTopology: () => this.host.ensureTopology(),
    });
    this.relay.start();
  }

  async onModuleDestroy(): Promise<void> {
    await this.relay?.stop();
  }
}

/**
 * Performs requested deliveries (webhooks, email): consumer `outbox-deliveries`.
 * The senders' sockets are closed last, after the consumer has drained.
 */
class DeliveryRunner implements OnApplicationBootstrap, OnApplicationShutdown {
  private webhook: WebhookSender | undefined;
  private email: EmailSender | undefined;
  constructor(
    @Inject(ConsumerHost) private readonly host: ConsumerHost,
    @Inject(PG_POOL) private readonly pool: Pool,
    @Inject(NATS_CONNECTION) private readonly nc: NatsConnection,
    @Inject(NAMES) private readonly names: KeelNames,
    @Inject(LOGGER) private readonly log: Logger,
    @Inject(CONFIG) private readonly config: OutboxConfig,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const c = this.config;
    const log = this.log.child({ component: 'deliveries' });
    if (c.KEEL_WEBHOOK_SECRET === DEFAULT_WEBHOOK_SECRET)
      log.warn(
        'KEEL_WEBHOOK_SECRET is not set: webhooks are signed with the public development secret',
      );
    const webhook = (this.webhook = new WebhookSender({
      secret: c.KEEL_WEBHOOK_SECRET,
      timeoutMs: c.KEEL_DELIVERY_TIMEOUT_MS,
    }));
    const email = (this.email = new EmailSender({
      smtpUrl: c.KEEL_SMTP_URL,
      from: c.KEEL_EMAIL_FROM,
      timeoutMs: c.KEEL_DELIVERY_TIMEOUT_MS,
    }));
    const spec = deliveryConsumer(this.names);
    await this.host.start({
      ...spec,
      concurrency: c.KEEL_DELIVERY_CONCURRENCY,
      handler: deliveryHandler({
        pool: this.pool,
        log,
        publisher: new FastPublisher(this.nc, this.names, { owns: ['delivery'] }),
        channels: {
          webhook: (r, attempt) =>
            webhook.send({
              deliveryId: r.deliveryId,
              idempotencyKey: r.idempotencyKey,
              target: r.target,
              payload: r.payload,
              attempt,
            }),
          email: (r) =>
            email.send({
              deliveryId: r.deliveryId,
              idempotencyKey: r.idempotencyKey,
              target: r.target,
              payload: r.payload,
            }),
        },
        retry: {
          maxAttempts: c.KEEL_DELIVERY_MAX_ATTEMPTS,
          baseMs: c.KEEL_DELIVERY_RETRY_BASE_MS,
          capMs: c.KEEL_DELIVERY_RETRY_CAP_MS,
          maxRetryAfterMs: c.KEEL_DELIVERY_MAX_RETRY_AFTER_MS,
        },
        maxDeliver: spec.maxDeliver,
      }),
    });
  }

  onApplicationShutdown(): void {
    this.webhook?.close();
    this.email?.close();
  }
}

@Module({})
export class OutboxModule {
  static forRoot(config: OutboxConfig, logger: Logger): DynamicModule {
    return {
      module: OutboxModule,
      imports: keelServiceModules({ config, serviceName: 'outbox', logger }),
      providers: [{ provide: CONFIG, useValue: config }, RelayRunner, DeliveryRunner],
    };
  }
}
