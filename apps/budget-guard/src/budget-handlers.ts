import type { Pool, PoolClient } from 'pg';
import type {
  BudgetEvent,
  ReserveBudgetReply,
  ReserveBudgetRequest,
  SettleBudgetReply,
  SettleBudgetRequest,
} from '@keel/contracts';
import { streamIds } from '@keel/contracts';
import {
  costMicros,
  decideReserve,
  decideSettle,
  evolveBudget,
  fits,
  initialBudgetState,
  type BudgetState,
  type ReserveCommand,
} from '@keel/budget-domain';
import { appendToStream, readStream, withTransaction, type RecordedEvent } from '@keel/event-store';
import {
  newEventMetadata,
  runStep,
  type AggregateCache,
  type AggregateSpec,
  type AppendBatcher,
  type FastPublisher,
} from '@keel/runtime';
import { tenantDailyLimits, type BudgetGuardConfig } from './config';
import { countReservation, countSpend } from './budget-metrics';
import type { DeadlineTimers } from './deadline-timers';
import type { SpendingHalts } from './spending-halts';

export const budgetAggregate: AggregateSpec<BudgetState, BudgetEvent> = {
  initial: initialBudgetState,
  evolve: evolveBudget,
};

export interface BudgetDeps {
  readonly pool: Pool;
  readonly cache: AggregateCache<BudgetState>;
  readonly publisher: FastPublisher;
  readonly batcher: AppendBatcher;
  readonly config: BudgetGuardConfig;
  readonly halts: SpendingHalts;
  readonly timers: DeadlineTimers;
}

const metadataFor = (req: { runId: string; tenant: string; reservationId: string }) => () =>
  newEventMetadata({
    runId: req.runId,
    tenant: req.tenant,
    causationId: req.reservationId,
    producer: 'budget-guard',
  });

/** `budget:tenant:<tenant>:<yyyy-mm-dd>` (UTC day). */
const tenantDayStream = (tenant: string, day: string) =>
  streamIds.budget(`tenant:${tenant}:${day}`);
const today = () => new Date().toISOString().slice(0, 10);
const usd = (micros: number) => micros / 1_000_000;

/**
 * Reserve before spend (settling the previous step in the same commit).
 *
 * Without a daily tenant limit only the run's ledger is involved: one
 * statement with an expected version (conflicts re-read and decide again).
 * With one, the run's and the tenant-day's ledgers are decided and appended
 * together in one transaction that first takes a PostgreSQL advisory lock on
 * the tenant-day: reservations of one tenant are serialised across every
 * guard replica, so concurrent reservations never grant more than the day
 * holds. The reply is sent only after the commit.
 */
export async function reserve(
  deps: BudgetDeps,
  req: ReserveBudgetRequest,
): Promise<ReserveBudgetReply> {
  // Ahead of time nothing is paused: the step itself meets the halt when it comes.
  const halted = await deps.halts.haltFor(req.tenant);
  const halt = halted && (req.ahead ? halted : await deps.halts.pause(req.runId, req.tenant));
  if (halt) {
    if (!req.ahead) countReservation(req.tenant, 'halted');
    return { status: 'halted', reason: halt.reason, since: halt.since };
  }
  const { config } = deps;
  const amount = {
    tokens: req.inputTokens + req.outputTokens,
    inputTokens: req.inputTokens,
    outputTokens: req.outputTokens,
    costMicros: costMicros(config.KEEL_MODEL_PRICES, req.model, req),
  };
  const settleCost = req.settle
    ? costMicros(config.KEEL_MODEL_PRICES, req.settle.model, req.settle.usage)
    : 0;
  const runCmd: ReserveCommand = {
    runId: req.runId,
    tenant: req.tenant,
    scope: 'run',
    reservationId: req.reservationId,
    amount,
    limits: {
      tokens: req.limitTokens,
      costMicros: req.limitCostUsd === undefined ? null : Math.round(req.limitCostUsd * 1_000_000),
      inputTokens: req.limitInputTokens ?? null,
      outputTokens: req.limitOutputTokens ?? null,
    },
    warningRatio: config.KEEL_BUDGET_WARNING_RATIO,
  };
  const dayLimits = tenantDailyLimits(config, req.tenant);
  const settled = (s: BudgetState) =>
    req.settle ? decideSettle(s, { runId: req.runId, ...req.settle, costMicros: settleCost }) : [];
  // A timer this request armed means no reservation of the run came before: its ledger is new.
  const first = req.deadlineAt
    ? await deps.timers.arm(req.runId, req.tenant, req.deadlineAt)
    : false;

  if (!dayLimits) {
    const { result, records } = await runStep(deps.pool, budgetAggregate, {
      streamId: streamIds.budget(req.runId),
      decide: (s) => {
        const settle = settled(s);
        const { events, outcome } = decideReserve(settle.reduce(evolveBudget, s), runCmd);
        return { events: [...settle, ...recorded(req, outcome, events)], result: outcome };
      },
      metadata: metadataFor(req),
      cache: deps.cache,
      batcher: deps.batcher,
      maxAttempts: 20,
      assumeNew: first,
    });
    deps.publisher.publish(records);
    return reply(req, result, records, settleCost);
  }

  const day = today();
  const dayStream = tenantDayStream(req.tenant, day);
  const { outcome, records } = await withTransaction(deps.pool, async (client) => {
    await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [dayStream]);
    const run = await load(client, streamIds.budget(req.runId));
    const tenantDay = await load(client, dayStream);
    // Settle the previous step on both ledgers (the day of its own reservation).
    const runSettle = settled(run.state);
    const prev = req.settle ? run.state.reservations.get(req.settle.reservationId) : undefined;
    const daySettle =
      req.settle && prev?.tenantDay === day
        ? decideSettle(tenantDay.state, { runId: req.runId, ...req.settle, costMicros: settleCost })
        : [];
    const runState = runSettle.reduce(evolveBudget, run.state);
    const dayState = daySettle.reduce(evolveBudget, tenantDay.state);
    const dayCmd: ReserveCommand = {
      ...runCmd,
      scope: 'tenant_day',
      limits: dayLimits,
    };
    const refusal = fits(runState, runCmd) ?? fits(dayState, dayCmd);
    const onRun = decideReserve(runState, { ...runCmd, tenantDay: day }, refusal);
    const onDay = decideReserve(dayState, dayCmd, refusal);
    const meta = metadataFor(req);
    const withMeta = (events: BudgetEvent[]) => events.map((e) => ({ ...e, metadata: meta() }));
    const written: RecordedEvent[] = [];
    const runEvents = [...runSettle, ...recorded(req, onRun.outcome, onRun.events)];
    const dayEvents = [...daySettle, ...recorded(req, onRun.outcome, onDay.events)];
    if (runEvents.length > 0)
      written.push(
        ...(
          await appendToStream(
            client,
            streamIds.budget(req.runId),
            run.version,
            withMeta(runEvents),
          )
        ).records,
      );
    if (dayEvents.length > 0)
      written.push(
        ...(await appendToStream(client, dayStream, tenantDay.version, withMeta(dayEvents)))
          .records,
      );
    // The run's view decides the warning unless the day is the tighter one.
    const outcome =
      onRun.outcome.status === 'granted' && onDay.outcome.status === 'granted'
        ? { ...onRun.outcome, warning: onRun.outcome.warning || onDay.outcome.warning }
        : onRun.outcome;
    return { outcome, records: written };
  });
  deps.cache.delete(streamIds.budget(req.runId));
  deps.publisher.publish(records);
  return reply(req, outcome, records, settleCost);
}

/** A refusal of a reservation asked ahead of time is not recorded (the step asks again). */
const recorded = (
  req: ReserveBudgetRequest,
  outcome: ReturnType<typeof decideReserve>['outcome'],
  events: BudgetEvent[],
) => (req.ahead && outcome.status !== 'granted' ? [] : events);

/** The answer, counted: the outcome, and the previous step's spend if this request settled it. */
function reply(
  req: ReserveBudgetRequest,
  o: ReturnType<typeof decideReserve>['outcome'],
  records: readonly RecordedEvent[],
  settleCost: number,
): ReserveBudgetReply {
  // A refusal ahead of time is counted when the step itself is refused.
  if (!req.ahead || o.status === 'granted')
    countReservation(
      req.tenant,
      o.status === 'exhausted' ? 'exhausted' : o.warning ? 'warning' : 'granted',
    );
  const settledNow = records.some(
    (r) => r.type === 'BudgetSettled' && r.streamId === streamIds.budget(req.runId),
  );
  if (req.settle && settledNow) countSpend(req.tenant, req.settle.usage, settleCost);
  const committed = {
    committedTokens: o.committed.tokens,
    committedCostUsd: usd(o.committed.costMicros),
  };
  return o.status === 'granted'
    ? { status: 'granted', warning: o.warning, ...committed }
    : { status: 'exhausted', reason: o.reason, ...committed };
}

async function load(client: PoolClient, streamId: string) {
  const records = await readStream(client, streamId);
  return {
    state: records.reduce(
      (s, r) => evolveBudget(s, r as unknown as BudgetEvent),
      initialBudgetState(),
    ),
    version: records.at(-1)?.streamVersion ?? 0,
  };
}

export async function settle(
  deps: BudgetDeps,
  req: SettleBudgetRequest,
): Promise<SettleBudgetReply> {
  const cost = costMicros(deps.config.KEEL_MODEL_PRICES, req.model, req.usage);
  const streamId = streamIds.budget(req.runId);
  // Settled is final (nothing reopens a reservation), so a cached "already settled" cannot be
  // stale: a repeated settle (a run's end repeats its last step's) reads and writes nothing.
  const { records } = deps.cache.get(streamId)?.state.reservations.get(req.reservationId)?.settled
    ? { records: [] }
    : await settleOnLedgers(deps, req, cost);
  if (req.final) deps.timers.disarm(req.runId);
  deps.publisher.publish(records);
  return { status: 'settled' };
}

async function settleOnLedgers(deps: BudgetDeps, req: SettleBudgetRequest, cost: number) {
  return runStep(deps.pool, budgetAggregate, {
    streamId: streamIds.budget(req.runId),
    decide: (s: BudgetState) => ({
      events: decideSettle(s, { ...req, costMicros: cost }),
      result: s.reservations.get(req.reservationId)?.tenantDay,
    }),
    metadata: metadataFor(req),
    cache: deps.cache,
    batcher: deps.batcher,
    maxAttempts: 20,
  }).then(async (r) => {
    const day = r.result;
    if (!day || r.records.length === 0) return r;
    // Settle the tenant-day ledger too, under its lock.
    const more = await withTransaction(deps.pool, async (client) => {
      const stream = tenantDayStream(req.tenant, day);
      await client.query('SELECT pg_advisory_xact_lock(hashtext($1))', [stream]);
      const ledger = await load(client, stream);
      const events = decideSettle(ledger.state, { ...req, costMicros: cost });
      if (events.length === 0) return [];
      const meta = metadataFor(req);
      return (
        await appendToStream(
          client,
          stream,
          ledger.version,
          events.map((e) => ({ ...e, metadata: meta() })),
        )
      ).records;
    });
    return { ...r, records: [...r.records, ...more] };
  });
}
