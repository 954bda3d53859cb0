import type { Pool } from 'pg';
import type { Logger } from 'pino';
import type { SpendingControlReply } from '@keel/contracts';

export interface Halt {
  readonly reason: string;
  readonly since: string;
}

/**
 * The kill switch. Halts live in PostgreSQL (`spending_halts`), so every guard
 * replica honours them from the next reservation on. A halted reservation is
 * answered `halted`; the planner then waits and asks again, so runs pause
 * before their next model call (never inside a step) and resume on release.
 */
export class SpendingHalts {
  constructor(
    private readonly pool: Pool,
    private readonly log: Logger,
  ) {}

  /** The halt that applies to a tenant: its own, or the global one (one indexed read). */
  async haltFor(tenant: string): Promise<Halt | undefined> {
    const { rows } = await this.pool.query<{ reason: string; since: Date }>(
      `SELECT reason, since FROM spending_halts WHERE scope = $1 OR scope = '*'
        ORDER BY scope = '*' LIMIT 1`,
      [tenant],
    );
    const r = rows[0];
    return r ? { reason: r.reason, since: r.since.toISOString() } : undefined;
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
    await this.pool.query('DELETE FROM spending_halts WHERE scope = $1', [scope]);
    this.log.warn({ scope, by }, 'spending released');
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
