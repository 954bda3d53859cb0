import { metrics } from '@opentelemetry/api';
import type { Pool } from 'pg';
import { openDepthByCode } from '@keel/dlq';
import { describeError, type MessagingLogger } from '@keel/messaging';

/**
 * `keel.dlq.depth` (Prometheus: `keel_dlq_depth{code="…"}`): open entries of
 * the dead-letter queue per code, read from `dead_letters` every
 * `intervalMs`. A code seen once keeps being reported (0 when none are left
 * open), so an alert on it resolves instead of going stale. Every budget-guard
 * replica reports the same numbers: aggregate with `max`, not `sum`.
 */
export class DlqDepthGauge {
  private depth = new Map<string, number>();
  private readonly seen = new Set<string>();
  private timer: NodeJS.Timeout | undefined;
  private polling: Promise<void> | undefined;

  constructor(
    private readonly pool: Pool,
    private readonly log: MessagingLogger,
    private readonly intervalMs = 5_000,
  ) {
    metrics
      .getMeter('keel-budget-guard')
      .createObservableGauge('keel.dlq.depth', {
        description: 'Open dead-letter queue entries (keel dlq list), by code',
      })
      .addCallback((result) => {
        for (const code of this.seen) result.observe(this.depth.get(code) ?? 0, { code });
      });
  }

  start(): void {
    if (this.timer) return;
    this.tick();
    this.timer = setInterval(() => this.tick(), this.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    clearInterval(this.timer);
    this.timer = undefined;
    await this.polling;
  }

  /** Reads the depth now (also what the timer does). */
  async poll(): Promise<void> {
    try {
      const depth = await openDepthByCode(this.pool);
      for (const code of depth.keys()) this.seen.add(code);
      this.depth = depth;
    } catch (err) {
      this.log.warn({ err: describeError(err) }, 'reading the dead-letter queue depth failed');
    }
  }

  private tick(): void {
    if (this.polling) return; // a slow database: skip a beat rather than pile up queries
    this.polling = this.poll().finally(() => (this.polling = undefined));
  }
}
