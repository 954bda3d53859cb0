import type { Pool } from 'pg';
import type { Logger } from 'pino';
import { TurnBatch } from '@keel/runtime';

const ARM = `INSERT INTO deadline_timers (run_id, tenant, deadline_at) VALUES ($1, $2, $3)
             ON CONFLICT (run_id) DO NOTHING`;
const ARM_MANY = `INSERT INTO deadline_timers (run_id, tenant, deadline_at)
  SELECT * FROM unnest($1::uuid[], $2::text[], $3::timestamptz[])
  ON CONFLICT (run_id) DO NOTHING
  RETURNING run_id::text AS run_id`;
const DISARM = 'DELETE FROM deadline_timers WHERE run_id = ANY($1::uuid[])';

interface Arming {
  readonly runId: string;
  readonly tenant: string;
  readonly deadlineAt: string;
}

export interface DeadlineTimersOptions {
  /** Finished runs' timers are deleted together, at most this long after the run ended. */
  readonly disarmEveryMs?: number;
}

/**
 * The rows behind run deadlines (`deadline_timers`, fired by `DeadlineSweeper`),
 * written with no more statements than their guarantees need:
 * - **arm** (a run's first reservation asks for it) says whether it created the
 *   row: then no reservation of the run got this far before, so its budget
 *   stream is new and need not be read. Runs armed in the same event-loop turn
 *   (first reservations that arrived together) share one statement;
 * - **disarm** is not urgent — a timer left behind fires on a finished run,
 *   which records `RunDeadlineExceeded` the planner ignores — so finished runs'
 *   timers are deleted together in one statement every `disarmEveryMs`.
 */
export class DeadlineTimers {
  private pending: string[] = [];
  private flushing: Promise<void> | undefined;
  private timer: NodeJS.Timeout | undefined;
  private readonly disarmEveryMs: number;
  private readonly arming: TurnBatch<Arming, boolean | Error>;

  constructor(
    private readonly pool: Pool,
    private readonly log: Logger,
    opts: DeadlineTimersOptions = {},
  ) {
    this.disarmEveryMs = opts.disarmEveryMs ?? 200;
    this.arming = new TurnBatch((batch) =>
      batch.length === 1 ? Promise.all([this.armOne(batch[0]!)]) : this.armMany(batch),
    );
  }

  /** Arms the run's timer unless it is armed already; true when this call created it. */
  async arm(runId: string, tenant: string, deadlineAt: string): Promise<boolean> {
    const created = await this.arming.add({ runId, tenant, deadlineAt });
    if (created instanceof Error) throw created;
    return created;
  }

  private armOne(a: Arming): Promise<boolean | Error> {
    return this.pool
      .query({ name: 'keel_arm_deadline', text: ARM, values: [a.runId, a.tenant, a.deadlineAt] })
      .then(
        (res) => res.rowCount === 1,
        (err: unknown) => (err instanceof Error ? err : new Error(String(err))),
      );
  }

  /**
   * One statement for the batch. A run armed twice in it is created at most
   * once (its first arming, as one statement each would have). If the
   * statement fails, each arming is tried alone, so one bad row fails only its own.
   */
  private async armMany(batch: readonly Arming[]): Promise<(boolean | Error)[]> {
    try {
      const res = await this.pool.query<{ run_id: string }>({
        name: 'keel_arm_deadlines',
        text: ARM_MANY,
        values: [
          batch.map((a) => a.runId),
          batch.map((a) => a.tenant),
          batch.map((a) => a.deadlineAt),
        ],
      });
      const created = new Set(res.rows.map((r) => r.run_id));
      return batch.map((a) => created.delete(a.runId.toLowerCase()));
    } catch {
      return Promise.all(batch.map((a) => this.armOne(a)));
    }
  }

  /** Removes the timer of a run that ended (soon, with others; see the class comment). */
  disarm(runId: string): void {
    this.pending.push(runId);
    this.timer ??= setTimeout(() => {
      this.timer = undefined;
      void this.flush();
    }, this.disarmEveryMs);
  }

  /** Deletes the timers disarmed so far; a failure is logged and the sweeper cleans up. */
  flush(): Promise<void> {
    const ids = this.pending;
    if (ids.length === 0) return this.flushing ?? Promise.resolve();
    this.pending = [];
    const run = this.pool
      .query({ name: 'keel_disarm_deadlines', text: DISARM, values: [ids] })
      .then(() => undefined)
      .catch((err: unknown) =>
        this.log.warn(
          { err: String(err), timers: ids.length },
          'could not delete finished runs’ deadline timers; they will fire harmlessly',
        ),
      );
    this.flushing = (this.flushing ?? Promise.resolve()).then(() => run);
    return this.flushing;
  }

  /** Flushes what is pending (call before the pool closes). */
  async stop(): Promise<void> {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
    await this.flush();
  }
}
