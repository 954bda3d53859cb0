import type { Pool, PoolClient } from 'pg';
import {
  type FleetBreakerState,
  streamIds,
  type BudgetEvent,
  type BreakerStateName,
} from '@keel/contracts';
import {
  closedBreaker,
  coolDownElapsed,
  observeHealth,
  probeAt,
  type BreakerChange,
  type FleetBreaker,
  type FleetBreakerPolicy,
  type HealthObservation,
} from '@keel/budget-domain';
import { markProcessed, withTransaction, type RecordedEvent } from '@keel/event-store';
import { TurnBatch } from '@keel/runtime';
import { appendBudgetEvent } from '../append-budget-event';

interface Row {
  name: string;
  state: BreakerStateName;
  since: Date;
  reason: string;
  failures: number;
  last_run_id: string | null;
  last_tenant: string | null;
}

/**
 * A committed change of a breaker: the state to put in the KV bucket (replicas
 * read the failure count from it too) and, on a transition, its event(s) to
 * publish and the state it left.
 */
export interface AppliedChange {
  readonly published: FleetBreakerState;
  readonly transition?: { readonly records: RecordedEvent[]; readonly from: BreakerStateName };
}

export interface Cause {
  readonly runId: string;
  readonly tenant: string;
  /** The outcome event's id: the inbox key (a redelivered failure counts once). */
  readonly eventId: string;
  readonly consumer: string;
}

const toBreaker = (r: Row): FleetBreaker => ({
  name: r.name,
  state: r.state,
  since: r.since.getTime(),
  reason: r.reason,
  failures: r.failures,
});

/**
 * The fleet breakers' table (`fleet_breakers`). Guard replicas serialise on
 * a breaker's row; a transition's event is appended in the same transaction
 * as the row's update, so the stream `budget:breaker:<name>` and the row
 * never disagree. Publishing to the KV bucket happens after commit (and the
 * sweeper re-syncs it, should a guard die in between).
 */
export class BreakerStore {
  /** Successes of one event-loop turn reset their breakers in one statement. */
  private readonly successes = new TurnBatch<string, Row | undefined>(async (names) => {
    const { rows } = await this.pool.query<Row>({
      name: 'keel_breaker_successes',
      text: `UPDATE fleet_breakers SET failures = 0
              WHERE name = ANY($1::text[]) AND (failures > 0 OR state = 'half_open')
              RETURNING *`,
      values: [[...new Set(names)]],
    });
    const changed = new Map(rows.map((r) => [r.name, r]));
    // Only the first success of a name in the batch changed its row.
    return names.map((n) => {
      const row = changed.get(n);
      changed.delete(n);
      return row;
    });
  });

  constructor(
    private readonly pool: Pool,
    private readonly policy: FleetBreakerPolicy,
    private readonly now: () => number = Date.now,
  ) {}

  /**
   * Apply one outcome. A success resets a closed breaker's failures in one
   * UPDATE (shared by the successes that arrive together), which matches no
   * row when there was nothing to reset; only a half-open breaker's success
   * (a probe) and failures take a transaction and the row's lock.
   */
  async observe(obs: HealthObservation, cause: Cause): Promise<AppliedChange | undefined> {
    if (obs.ok) {
      const reset = await this.successes.add(obs.breaker);
      if (!reset) return undefined;
      if (reset.state !== 'half_open') return { published: this.publishable(toBreaker(reset)) };
    }
    return withTransaction(this.pool, async (c) => {
      // A success is idempotent; a failure must count once per event.
      if (!obs.ok && !(await markProcessed(c, cause.consumer, cause.eventId))) return undefined;
      const row = await this.lock(c, obs.breaker);
      const change = observeHealth(toBreaker(row), obs, this.policy, this.now());
      return this.save(c, change, row, cause.runId, cause.tenant, cause.eventId);
    });
  }

  /** Move open breakers whose cool-down is over to half-open (safe with several guards). */
  async sweep(): Promise<AppliedChange[]> {
    return withTransaction(this.pool, async (c) => {
      const { rows } = await c.query<Row>(
        `SELECT * FROM fleet_breakers WHERE state = 'open' AND since <= $1
          ORDER BY since LIMIT 100 FOR UPDATE SKIP LOCKED`,
        [new Date(this.now() - this.policy.coolDownMs)],
      );
      const applied: AppliedChange[] = [];
      for (const row of rows) {
        const change = coolDownElapsed(toBreaker(row), this.policy, this.now());
        if (!change || !row.last_run_id) continue;
        const done = await this.save(
          c,
          change,
          row,
          row.last_run_id,
          row.last_tenant ?? 'unknown',
          `breaker-sweep:${row.name}:${row.since.getTime()}`,
        );
        if (done) applied.push(done);
      }
      return applied;
    });
  }

  /** Every breaker's state as it should be in the KV bucket. */
  async all(): Promise<FleetBreakerState[]> {
    const { rows } = await this.pool.query<Row>('SELECT * FROM fleet_breakers ORDER BY name');
    return rows.map((r) => this.publishable(toBreaker(r)));
  }

  publishable(b: FleetBreaker): FleetBreakerState {
    return {
      name: b.name,
      state: b.state,
      since: new Date(b.since).toISOString(),
      reason: b.reason,
      failures: b.failures,
      ...(b.state === 'open' ? { probeAt: new Date(probeAt(b, this.policy)).toISOString() } : {}),
    };
  }

  private async lock(c: PoolClient, name: string): Promise<Row> {
    await c.query(
      `INSERT INTO fleet_breakers (name, state, since) VALUES ($1, 'closed', $2)
       ON CONFLICT (name) DO NOTHING`,
      [name, new Date(closedBreaker(name, this.now()).since)],
    );
    const { rows } = await c.query<Row>('SELECT * FROM fleet_breakers WHERE name = $1 FOR UPDATE', [
      name,
    ]);
    return rows[0]!;
  }

  private async save(
    c: PoolClient,
    change: BreakerChange,
    row: Row,
    runId: string,
    tenant: string,
    causationId: string,
  ): Promise<AppliedChange | undefined> {
    const n = change.next;
    if (!change.transition && n.failures === row.failures) return undefined; // nothing changed
    await c.query(
      `UPDATE fleet_breakers SET state = $2, since = $3, reason = $4, failures = $5,
              last_run_id = $6, last_tenant = $7 WHERE name = $1`,
      [n.name, n.state, new Date(n.since), n.reason, n.failures, runId, tenant],
    );
    if (!change.transition) return { published: this.publishable(n) };
    const event: BudgetEvent = {
      type: 'FleetBreakerTransitioned',
      data: {
        runId,
        breaker: n.name,
        from: change.transition.from,
        to: change.transition.to,
        reason: n.reason,
        failures: n.failures,
      },
    };
    const records = await appendBudgetEvent(c, streamIds.budget(`breaker:${n.name}`), event, {
      runId,
      tenant,
      causationId,
    });
    return { published: this.publishable(n), transition: { records, from: row.state } };
  }
}
