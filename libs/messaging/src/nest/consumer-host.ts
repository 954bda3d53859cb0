import type { KeelNames } from '@keel/contracts';
import {
  Inject,
  Injectable,
  type OnApplicationBootstrap,
  type OnApplicationShutdown,
  type OnModuleDestroy,
  type OnModuleInit,
} from '@nestjs/common';
import type { JetStreamClient, JetStreamManager, NatsConnection } from 'nats';
import { type ConsumerHandle, startConsumer, type StartConsumerOptions } from '../consumer';
import { describeError } from '../errors';
import type { MessagingLogger } from '../logger';
import { type ServerHandle, serveJson, type ServeJsonOptions } from '../request-reply';
import { openBreakerBucket } from '../breaker-bucket';
import { ackWaitOverride } from '../fault-hooks';
import { ensureConsumer, ensureStreams } from '../topology';
import type { MessagingModuleOptions } from './messaging-options';
import {
  JETSTREAM,
  JETSTREAM_MANAGER,
  KEEL_NAMES,
  MESSAGING_LOGGER,
  MESSAGING_OPTIONS,
  NATS_CONNECTION,
} from './tokens';

/**
 * A consumer to run for the lifetime of the app. The durable consumer is
 * declared (`ensureConsumer`) from these fields before it starts; `js`,
 * `names` and (by default) `logger` come from the module.
 */
export type ConsumerDefinition = Omit<StartConsumerOptions, 'js' | 'names' | 'logger'> & {
  filterSubject: string;
  ackWaitMs: number;
  /** Server-side cap on unacked messages across all replicas. Default 1000 (JetStream's default). */
  maxAckPending?: number;
  logger?: MessagingLogger;
};

/** A request/reply server to run for the lifetime of the app. */
export type ServerDefinition<Req = unknown, Res = unknown> = { subject: string } & Omit<
  ServeJsonOptions<Req, Res>,
  'logger'
> & { logger?: MessagingLogger };

const DEFAULT_MAX_ACK_PENDING = 1000;

/**
 * Owns the app's consumers, request/reply servers and the NATS connection.
 *
 * Lifecycle (Nest runs the shutdown hooks on `app.close()`, and on SIGTERM
 * with `app.enableShutdownHooks()`):
 * - `onModuleInit`: declares the deployment's streams (unless
 *   `ensureStreams: false`), so they exist before any provider's
 *   `onApplicationBootstrap` starts a consumer. A topology error fails start-up.
 * - `onApplicationBootstrap`: starts everything registered with `add` /
 *   `addServer`. `start` / `serve` run at once (call them from your own
 *   `onApplicationBootstrap`).
 * - `onModuleDestroy` (first shutdown phase): stops pulling and serving and
 *   waits (bounded) for in-flight handlers, so work stops entering first.
 * - `onApplicationShutdown` (last phase): drains the connection, flushing what
 *   other providers published while shutting down. Resources handlers use
 *   (pg pools) should be closed in `onApplicationShutdown` too, not earlier.
 */
@Injectable()
export class ConsumerHost
  implements OnModuleInit, OnApplicationBootstrap, OnModuleDestroy, OnApplicationShutdown
{
  private readonly pendingConsumers: ConsumerDefinition[] = [];
  private readonly pendingServers: ServerDefinition[] = [];
  private readonly running: Array<ConsumerHandle | ServerHandle> = [];
  private bootstrapped = false;
  private stopped = false;

  constructor(
    @Inject(NATS_CONNECTION) private readonly nc: NatsConnection,
    @Inject(JETSTREAM) private readonly js: JetStreamClient,
    @Inject(JETSTREAM_MANAGER) private readonly jsm: JetStreamManager,
    @Inject(KEEL_NAMES) private readonly names: KeelNames,
    @Inject(MESSAGING_LOGGER) private readonly logger: MessagingLogger,
    @Inject(MESSAGING_OPTIONS) private readonly options: MessagingModuleOptions,
  ) {}

  /** Registers a consumer to start on bootstrap (or starts it now if bootstrap has happened). */
  add(def: ConsumerDefinition): void {
    if (!this.bootstrapped) {
      this.pendingConsumers.push(def);
      return;
    }
    this.start(def).catch((err: unknown) =>
      this.logger.error(
        { durable: def.durable, err: describeError(err) },
        'consumer failed to start',
      ),
    );
  }

  /** Registers a request/reply server to start on bootstrap (or starts it now if bootstrap has happened). */
  addServer<Req, Res>(def: ServerDefinition<Req, Res>): void {
    if (!this.bootstrapped) {
      this.pendingServers.push(def as unknown as ServerDefinition);
      return;
    }
    this.serve(def);
  }

  /** Declares the durable consumer and starts it now. Rejects with `TopologyError` if it cannot be declared. */
  async start(def: ConsumerDefinition): Promise<ConsumerHandle> {
    this.assertRunning(def.durable);
    const { filterSubject, ackWaitMs: configuredAckWaitMs, maxAckPending, logger, ...rest } = def;
    const ackWaitMs = ackWaitOverride(configuredAckWaitMs); // test-only knob, off by default
    const declare = () =>
      ensureConsumer(this.jsm, def.stream, {
        durable: def.durable,
        filterSubject,
        ackWaitMs,
        maxDeliver: def.maxDeliver,
        maxAckPending: maxAckPending ?? DEFAULT_MAX_ACK_PENDING,
      });
    if (this.options.ensureStreams !== false) await declare();
    this.assertRunning(def.durable);
    const handle = startConsumer({
      ...rest,
      js: this.js,
      names: this.names,
      logger: logger ?? this.logger,
      ...(this.options.ensureStreams !== false
        ? {
            redeclare: async () => {
              await this.ensureTopology();
              await declare();
            },
          }
        : {}),
    });
    this.running.push(handle);
    return handle;
  }

  /** Starts a request/reply server now. */
  serve<Req, Res>(def: ServerDefinition<Req, Res>): ServerHandle {
    this.assertRunning(def.subject);
    const { subject, logger, ...rest } = def;
    const handle = serveJson(this.nc, subject, { ...rest, logger: logger ?? this.logger });
    this.running.push(handle);
    return handle;
  }

  /**
   * Declares the deployment's streams again (create or update, never delete)
   * when this service may; a no-op under `ensureStreams: false`. For recovery
   * after a NATS server lost its store (see docs/design/messaging.md).
   */
  async ensureTopology(): Promise<void> {
    if (this.options.ensureStreams === false) return;
    await ensureStreams(this.jsm, this.names, { replicas: this.options.replicas ?? 1 });
  }

  async onModuleInit(): Promise<void> {
    if (this.options.ensureStreams !== false) {
      const replicas = this.options.replicas ?? 1;
      await ensureStreams(this.jsm, this.names, { replicas });
      await openBreakerBucket(this.nc, this.names, { create: true, replicas });
    }
  }

  async onApplicationBootstrap(): Promise<void> {
    this.bootstrapped = true;
    for (const def of this.pendingConsumers.splice(0)) await this.start(def);
    for (const def of this.pendingServers.splice(0)) this.serve(def);
  }

  async onModuleDestroy(): Promise<void> {
    this.stopped = true;
    const running = this.running.splice(0);
    await Promise.all(running.map((r) => r.stop()));
  }

  async onApplicationShutdown(): Promise<void> {
    await this.onModuleDestroy(); // in case the destroy phase was skipped
    if (this.nc.isClosed()) return;
    try {
      await this.nc.drain();
    } catch (err) {
      this.logger.warn({ err: describeError(err) }, 'nats drain failed');
    }
  }

  private assertRunning(what: string): void {
    if (this.stopped) throw new Error(`ConsumerHost: cannot start '${what}' during shutdown`);
  }
}
