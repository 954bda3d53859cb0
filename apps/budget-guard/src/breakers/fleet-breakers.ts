import { Inject, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import type { KV, NatsConnection, Subscription } from 'nats';
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import { fleetBreakerKey, type FleetBreakerState, type KeelNames } from '@keel/contracts';
import { HEALTH_EVENT_TYPES } from '@keel/budget-domain';
import { ConsumerHost, NATS_CONNECTION, openBreakerBucket } from '@keel/messaging';
import { breakerHealthConsumers, FastPublisher, LOGGER, NAMES, PG_POOL } from '@keel/runtime';
import { BUDGET_GUARD_CONFIG, type BudgetGuardConfig } from '../config';
import { BreakerMetrics } from './breaker-metrics';
import { BreakerStore, type AppliedChange } from './breaker-store';
import { healthHandler, successReportHandler } from './health.handler';

/** Re-sync the whole bucket every this many sweeps (covers a guard that died between commit and put). */
const SYNC_EVERY = 10;

/**
 * Fleet-wide circuit breakers (docs/design/fleet-breakers.md): follows every
 * failure event and the success reports replicas send while a breaker counts
 * failures or is half-open, keeps each dependency's breaker in `fleet_breakers`, and
 * publishes its state to the `<PREFIX>_BREAKERS` KV bucket that planner and
 * tool-executor replicas watch. A sweeper moves cooled-down breakers to
 * half-open and periodically re-syncs the bucket from the table.
 */
export class FleetBreakers implements OnApplicationBootstrap, OnModuleDestroy {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;
  private sweeps = 0;
  private kv: KV | undefined;
  private reports: Subscription | undefined;
  private readonly metrics = new BreakerMetrics();

  constructor(
    @Inject(ConsumerHost) private readonly host: ConsumerHost,
    @Inject(NATS_CONNECTION) private readonly nc: NatsConnection,
    @Inject(PG_POOL) private readonly pool: Pool,
    @Inject(NAMES) private readonly names: KeelNames,
    @Inject(LOGGER) private readonly log: Logger,
    @Inject(BUDGET_GUARD_CONFIG) private readonly config: BudgetGuardConfig,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const { config } = this;
    const log = this.log.child({ component: 'fleet-breakers' });
    const store = new BreakerStore(this.pool, {
      failureThreshold: config.KEEL_FLEET_BREAKER_FAILURES,
      coolDownMs: config.KEEL_FLEET_BREAKER_COOLDOWN_MS,
    });
    const publisher = new FastPublisher(this.nc, this.names, { owns: ['budget'] });
    this.kv = await openBreakerBucket(this.nc, this.names, { create: config.KEEL_NATS_PROVISION });
    const onChange = (t: AppliedChange) => {
      if (t.transition) {
        publisher.publish(t.transition.records);
        log.warn(
          {
            breaker: t.published.name,
            from: t.transition.from,
            to: t.published.state,
            reason: t.published.reason,
          },
          'fleet breaker transition',
        );
        this.metrics.transitioned(t.published);
      }
      void this.put(t.published).catch((err: unknown) =>
        log.warn(
          { err: String(err), breaker: t.published.name },
          'KV put failed; the sweeper re-syncs',
        ),
      );
    };
    // Failures arrive as events (durable, de-duplicated); successes that matter as reports.
    for (const spec of breakerHealthConsumers(this.names, HEALTH_EVENT_TYPES)) {
      await this.host.start({
        ...spec,
        concurrency: 8,
        handler: healthHandler({ store, consumer: spec.durable, onChange }),
      });
    }
    this.reports = this.nc.subscribe(this.names.subjects.breakerSuccess.build(), {
      queue: 'budget-guard',
      callback: successReportHandler({ store, log, onChange }),
    });
    await this.sync(store);
    this.timer = setInterval(() => {
      if (this.running) return;
      this.running = this.tick(store, onChange)
        .catch((err: unknown) => log.warn({ err: String(err) }, 'breaker sweep failed; retrying'))
        .finally(() => (this.running = undefined));
    }, config.KEEL_FLEET_BREAKER_SWEEP_MS);
    this.timer.unref();
  }

  async onModuleDestroy(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    this.reports?.unsubscribe();
    await this.running;
  }

  private async tick(store: BreakerStore, onChange: (t: AppliedChange) => void) {
    for (const t of await store.sweep()) onChange(t);
    if (++this.sweeps % SYNC_EVERY === 0) await this.sync(store);
  }

  /** Make the bucket match the table (only keys whose value differs are written). */
  private async sync(store: BreakerStore): Promise<void> {
    for (const s of await store.all()) {
      this.metrics.seen(s);
      const current = await this.kv!.get(fleetBreakerKey(s.name));
      if (current?.operation === 'PUT' && current.string() === JSON.stringify(s)) continue;
      await this.put(s);
    }
  }

  private async put(s: FleetBreakerState): Promise<void> {
    await this.kv!.put(fleetBreakerKey(s.name), JSON.stringify(s));
  }
}
