import type { Pool } from 'pg';
import type { Logger } from 'pino';
import type { SpendingControlReply } from '@keel/contracts';

export interface Halt {
  readonly reason: string;
  readonly since: string;
}

/**
 * The kill switch. Halts live in PostgreSQL (`spending_halts`), so every guard
 * replica honours them: each re-reads the table every `refreshMs`, and the
 * replica that takes a command applies it at once. A halted reservation is
 * answered `halted`; the planner then waits and asks again, so runs pause
 * before their next model call (never inside a step) and resume on release.
 */
export class SpendingHalts {
  private halts = new Map<string, Halt>();
  private timer: NodeJS.Timeout | undefined;

  constructor(
    private readonly pool: Pool,
    private readonly log: Logger,
    private readonly refreshMs = 1000,
  ) {}

  async start(): Promise<void> {
    await this.refresh();
    this.timer = setInterval(() => {
      this.refresh().catch((err: unknown) =>
        this.log.warn(
          { err: String(err) },
          'could not refresh spending halts; keeping the last known',
        ),
      );
    }, this.refreshMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
  }

  /** The halt that applies to a tenant: its own, or the global one. */
  haltFor(tenant: string): Halt | undefined {
    return this.halts.get(tenant) ?? this.halts.get('*');
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
    await this.refresh();
    return {
      status: 'accepted',
      halted: [...this.halts].map(([scope, h]) => ({ scope, ...h })),
    };
  }

  private async refresh(): Promise<void> {
    const { rows } = await this.pool.query<{ scope: string; reason: string; since: Date }>(
      'SELECT scope, reason, since FROM spending_halts',
    );
    this.halts = new Map(
      rows.map((r) => [r.scope, { reason: r.reason, since: r.since.toISOString() }]),
    );
  }
}
