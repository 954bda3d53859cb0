import { Inject, type OnApplicationBootstrap, type OnModuleDestroy } from '@nestjs/common';
import type { JetStreamManager } from 'nats';
import type { Pool } from 'pg';
import type { Logger } from 'pino';
import type { KeelNames } from '@keel/contracts';
import { ConsumerHost, JETSTREAM_MANAGER } from '@keel/messaging';
import { budgetGuardConsumers, LOGGER, NAMES, PG_POOL } from '@keel/runtime';
import { DlqDepthGauge } from './dlq-depth-gauge';
import { dlqIngestHandler } from './dlq-ingest.handler';

/** Handlers of the DLQ durable running at once in one replica. */
const CONCURRENCY = 4;

/**
 * The budget guard's share of the dead-letter queue: ingests the DLQ stream
 * (durable `budget-guard-dlq`) into `dead_letters`, where `keel dlq` lists,
 * redrives and discards entries, and exports the open entries per code as
 * the `keel.dlq.depth` gauge. See docs/dlq-runbook.md.
 */
export class DlqIngestion implements OnApplicationBootstrap, OnModuleDestroy {
  private gauge: DlqDepthGauge | undefined;

  constructor(
    @Inject(ConsumerHost) private readonly host: ConsumerHost,
    @Inject(JETSTREAM_MANAGER) private readonly jsm: JetStreamManager,
    @Inject(PG_POOL) private readonly pool: Pool,
    @Inject(NAMES) private readonly names: KeelNames,
    @Inject(LOGGER) private readonly log: Logger,
  ) {}

  async onApplicationBootstrap(): Promise<void> {
    const log = this.log.child({ component: 'dlq' });
    this.gauge = new DlqDepthGauge(this.pool, log);
    this.gauge.start();
    await this.host.start({
      ...budgetGuardConsumers(this.names).dlqIngest,
      concurrency: CONCURRENCY,
      handler: dlqIngestHandler({ pool: this.pool, jsm: this.jsm, names: this.names, log }),
    });
  }

  async onModuleDestroy(): Promise<void> {
    await this.gauge?.stop();
  }
}
