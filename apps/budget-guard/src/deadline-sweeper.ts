import type { Pool } from 'pg';
import type { Logger } from 'pino';
import { streamIds, type BudgetEvent } from '@keel/contracts';
import { withTransaction, type RecordedEvent } from '@keel/event-store';
import type { FastPublisher } from '@keel/runtime';
import { appendBudgetEvent } from './append-budget-event';

/**
 * Fires run deadlines. Every `intervalMs` it takes due timers with
 * `FOR UPDATE SKIP LOCKED` (several guard replicas never take the same one),
 * appends `RunDeadlineExceeded` to the run's budget stream and deletes the
 * timer in the same transaction — each deadline fires exactly once, within
 * about one interval of its time, and timers survive any restart (they are
 * rows, not in-memory timeouts). The planner reacts to the event.
 */
export class DeadlineSweeper {
  private timer: NodeJS.Timeout | undefined;
  private running: Promise<void> | undefined;

  constructor(
    private readonly pool: Pool,
    private readonly publisher: FastPublisher,
    private readonly log: Logger,
    private readonly intervalMs: number,
  ) {}

  start(): void {
    this.timer = setInterval(() => {
      if (this.running) return; // the previous sweep is still going
      this.running = this.sweep()
        .then(() => undefined)
        .catch((err: unknown) =>
          this.log.warn({ err: String(err) }, 'deadline sweep failed; retrying'),
        )
        .finally(() => (this.running = undefined));
    }, this.intervalMs);
    this.timer.unref();
  }

  async stop(): Promise<void> {
    if (this.timer) clearInterval(this.timer);
    await this.running;
  }

  /** One pass; returns how many deadlines it fired. */
  async sweep(batch = 100): Promise<number> {
    const records = await withTransaction(this.pool, async (client) => {
      const { rows } = await client.query<{ run_id: string; tenant: string; deadline_at: Date }>(
        `SELECT run_id, tenant, deadline_at FROM deadline_timers
          WHERE deadline_at <= now() ORDER BY deadline_at LIMIT $1 FOR UPDATE SKIP LOCKED`,
        [batch],
      );
      const written: RecordedEvent[] = [];
      for (const t of rows) {
        const fired: BudgetEvent = {
          type: 'RunDeadlineExceeded',
          data: {
            runId: t.run_id,
            deadlineAt: t.deadline_at.toISOString(),
            firedAt: new Date().toISOString(),
          },
        };
        written.push(
          ...(await appendBudgetEvent(client, streamIds.budget(t.run_id), fired, {
            runId: t.run_id,
            tenant: t.tenant,
            causationId: `deadline:${t.run_id}`,
          })),
        );
        await client.query('DELETE FROM deadline_timers WHERE run_id = $1', [t.run_id]);
      }
      return written;
    });
    if (records.length > 0) {
      this.publisher.publish(records);
      this.log.info({ fired: records.length }, 'run deadlines fired');
    }
    return records.length;
  }
}
