import { performance } from 'node:perf_hooks';
import { setTimeout as sleep } from 'node:timers/promises';
import type { Pool, PoolClient } from 'pg';
import type { Logger } from 'pino';
import { streamIds, type BudgetEvent, type SpendingControlReply } from '@keel/contracts';
import { withTransaction, type RecordedEvent } from '@keel/event-store';
import type { FastPublisher } from '@keel/runtime';
import { appendBudgetEvent } from './append-budget-event';

export interface Halt {
  readonly reason: string;
  readonly since: string;
}

const HALT_FOR = `SELECT scope, reason, since FROM spending_halts WHERE scope = $1 OR scope = '*'
                   ORDER BY scope = '*' LIMIT 1`;
const ALL_HALTS = 'SELECT scope, reason, since FROM spending_halts ORDER BY scope';

/** The whole table (a row per halted scope, so usually none) and when its read was sent. */
interface Copy {
  readonly readAt: number;
  readonly halts: ReadonlyMap<string, Halt>;
}

/**
 * The kill switch. Halts live in PostgreSQL (`spending_halts`), so every guard
 * replica honours them. A halted reservation is answered `halted` and its run
 * recorded in `paused_runs`: the planner stops before the model call (never
 * inside a step) and acks — nothing waits in a redelivery loop, so a halt may
 * last hours. Releasing a scope appends `SpendingResumed` to the budget stream
 * of each run it paused, in the same transaction as the release; the planner
 * drives those runs on.
 *
 * Reservations decide on a copy of the table, not a read each (the read was a
 * third of a reservation's wake-ups). The contract that keeps "halted from the
 * next reservation on": a replica uses a copy only while its read was sent
 * less than `leaseMs` ago, and `halt` answers only `leaseMs` after its commit.
 * By then every copy in use was read after the commit, on every replica, with
 * no message between them: a replica cut off from the others simply stops
 * trusting its copy. A copy past half its lease is refreshed in the background.
 */
export class SpendingHalts {
  private copy: Copy | undefined;
  private reading: Promise<Copy> | undefined;
  private reads = 0;

  constructor(
    private readonly pool: Pool,
    private readonly log: Logger,
    private readonly publisher: FastPublisher,
    private readonly leaseMs: number,
  ) {}

  /** The halt that applies to a tenant: its own, or the global one. */
  async haltFor(tenant: string): Promise<Halt | undefined> {
    const copy = this.copy;
    const age = copy ? performance.now() - copy.readAt : Infinity;
    if (copy && age < this.leaseMs) {
      // Refresh ahead; a failed read is retried by the next reservation that needs one.
      if (age >= this.leaseMs / 2) this.read().catch(() => undefined);
      return lookup(copy, tenant);
    }
    for (;;) {
      const fresh = await this.read();
      if (this.leaseMs === 0 || performance.now() - fresh.readAt < this.leaseMs)
        return lookup(fresh, tenant);
      // The read took longer than a lease: a halt may have been answered since it was sent.
    }
  }

  /** How many times this replica has read the table (the copy's refreshes). */
  get tableReads(): number {
    return this.reads;
  }

  /** One read at a time; reservations that need one while it is out share it. */
  private read(): Promise<Copy> {
    this.reading ??= this.readTable().finally(() => (this.reading = undefined));
    return this.reading;
  }

  private async readTable(): Promise<Copy> {
    // Taken before the query is sent, so the copy's snapshot is never older than its readAt.
    const readAt = performance.now();
    this.reads += 1;
    const { rows } = await this.pool.query<{ scope: string; reason: string; since: Date }>({
      name: 'keel_halts_all',
      text: ALL_HALTS,
    });
    const copy: Copy = {
      readAt,
      halts: new Map(
        rows.map((r) => [r.scope, { reason: r.reason, since: r.since.toISOString() }]),
      ),
    };
    if (!this.copy || this.copy.readAt < readAt) this.copy = copy;
    return copy;
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
    this.copy = undefined;
    // Every replica's copy now in use was read before this commit; none is used past its lease.
    await sleep(this.leaseMs);
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
    // Other replicas may answer reservations asked ahead `halted` until their copies expire;
    // a step's own reservation meets no halt, as `pause` reads the table itself.
    this.copy = undefined;
    this.publisher.publish(records);
    this.log.warn({ scope, by, resumed: records.length }, 'spending released');
    return this.accepted();
  }

  private async accepted(): Promise<SpendingControlReply> {
    const { halts } = await this.readTable();
    return { status: 'accepted', halted: [...halts].map(([scope, h]) => ({ scope, ...h })) };
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

const lookup = (copy: Copy, tenant: string): Halt | undefined =>
  copy.halts.get(tenant) ?? copy.halts.get('*');
