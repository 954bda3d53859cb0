import type { Pool, PoolClient } from 'pg';
import type { Logger } from 'pino';
import { streamIds, type BudgetEvent, type SpendingControlReply } from '@keel/contracts';
import { withTransaction, type RecordedEvent } from '@keel/event-store';
import { TurnBatch, type FastPublisher } from '@keel/runtime';
import { appendBudgetEvent } from './append-budget-event';

export interface Halt {
  readonly reason: string;
  readonly since: string;
}

const HALT_FOR = `SELECT scope, reason, since FROM spending_halts WHERE scope = $1 OR scope = '*'
                   ORDER BY scope = '*' LIMIT 1`;
const HALTS_FOR = `SELECT scope, reason, since FROM spending_halts
                    WHERE scope = ANY($1::text[]) OR scope = '*'`;

/**
 * The kill switch. Halts live in PostgreSQL (`spending_halts`), so every guard
 * replica honours them from the next reservation on. A halted reservation is
 * answered `halted` and its run recorded in `paused_runs`: the planner stops
 * before the model call (never inside a step) and acks — nothing waits in a
 * redelivery loop, so a halt may last hours. Releasing a scope appends
 * `SpendingResumed` to the budget stream of each run it paused, in the same
 * transaction as the release; the planner drives those runs on.
 */
export class SpendingHalts {
  constructor(
    private readonly pool: Pool,
    private readonly log: Logger,
    private readonly publisher: FastPublisher,
  ) {}

  /** Reservations of one event-loop turn share one read of the halts. */
  private readonly reads = new TurnBatch<string, Halt | undefined>(async (tenants) => {
    const { rows } = await this.pool.query<{ scope: string; reason: string; since: Date }>({
      name: 'keel_halts_for',
      text: HALTS_FOR,
      values: [[...new Set(tenants)]],
    });
    const halt = (scope: string) => {
      const r = rows.find((x) => x.scope === scope);
      return r ? { reason: r.reason, since: r.since.toISOString() } : undefined;
    };
    return tenants.map((t) => halt(t) ?? halt('*'));
  });

  /** The halt that applies to a tenant: its own, or the global one (one indexed read per loop turn). */
  haltFor(tenant: string): Promise<Halt | undefined> {
    return this.reads.add(tenant);
  }

  /**
   * Record the run as paused by the halt that applies, if one still does. The
   * halt's row is read `FOR SHARE`, so a concurrent release waits for this
   * commit and then resumes the run: a run can never be paused by a halt
   * that was released before it was recorded.
   */
  async pause(runId: string, tenant: string): Promise<Halt | undefined> {
    return withTransaction(this.pool, async (c) => {
      const { rows } = await c.query<{ scope: string; reason: string; since: Date }>(
        `${HALT_FOR} FOR SHARE`,
        [tenant],
      );
      const r = rows[0];
      if (!r) return undefined;
      await c.query(
        `INSERT INTO paused_runs (run_id, tenant, scope) VALUES ($1, $2, $3)
         ON CONFLICT (run_id) DO UPDATE SET scope = EXCLUDED.scope`,
        [runId, tenant, r.scope],
      );
      return { reason: r.reason, since: r.since.toISOString() };
    });
  }

  async halt(scope: string, reason: string, by: string): Promise<SpendingControlReply> {
    await this.pool.query(
      `INSERT INTO spending_halts (scope, reason, halted_by) VALUES ($1, $2, $3)
       ON CONFLICT (scope) DO UPDATE SET reason = EXCLUDED.reason, halted_by = EXCLUDED.halted_by`,
      [scope, reason, by],
    );
    this.log.warn({ scope, by }, 'spending halted');
    return this.accepted();
  }

  async release(scope: string, by: string): Promise<SpendingControlReply> {
    const records = await withTransaction(this.pool, async (c) => {
      await c.query('DELETE FROM spending_halts WHERE scope = $1', [scope]);
      const { rows } = await c.query<{ run_id: string; tenant: string; paused_at: Date }>(
        'DELETE FROM paused_runs WHERE scope = $1 RETURNING run_id, tenant, paused_at',
        [scope],
      );
      const written: RecordedEvent[] = [];
      for (const p of rows) written.push(...(await resume(c, p, scope, by)));
      return written;
    });
    this.publisher.publish(records);
    this.log.warn({ scope, by, resumed: records.length }, 'spending released');
    return this.accepted();
  }

  private async accepted(): Promise<SpendingControlReply> {
    const { rows } = await this.pool.query<{ scope: string; reason: string; since: Date }>(
      'SELECT scope, reason, since FROM spending_halts ORDER BY scope',
    );
    return {
      status: 'accepted',
      halted: rows.map((r) => ({ scope: r.scope, reason: r.reason, since: r.since.toISOString() })),
    };
  }
}

async function resume(
  c: PoolClient,
  p: { run_id: string; tenant: string; paused_at: Date },
  scope: string,
  by: string,
): Promise<RecordedEvent[]> {
  const event: BudgetEvent = {
    type: 'SpendingResumed',
    data: { runId: p.run_id, scope, pausedAt: p.paused_at.toISOString(), resumedBy: by },
  };
  return appendBudgetEvent(c, streamIds.budget(p.run_id), event, {
    runId: p.run_id,
    tenant: p.tenant,
    causationId: `release:${scope}:${Date.now()}`,
  });
}
