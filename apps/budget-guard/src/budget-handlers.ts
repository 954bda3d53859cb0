import type { Pool } from 'pg';
import type {
  BudgetEvent,
  ReserveBudgetReply,
  ReserveBudgetRequest,
  SettleBudgetReply,
  SettleBudgetRequest,
} from '@keel/contracts';
import { streamIds } from '@keel/contracts';
import {
  decideReserve,
  decideSettle,
  evolveBudget,
  initialBudgetState,
  type BudgetState,
} from '@keel/budget-domain';
import {
  type AggregateCache,
  newEventMetadata,
  runStep,
  type AggregateSpec,
  type AppendBatcher,
  type FastPublisher,
} from '@keel/runtime';

const budgetAggregate: AggregateSpec<BudgetState, BudgetEvent> = {
  initial: initialBudgetState,
  evolve: evolveBudget,
};

export interface BudgetDeps {
  readonly pool: Pool;
  readonly cache: AggregateCache<BudgetState>;
  readonly publisher: FastPublisher;
  readonly batcher: AppendBatcher;
}

const metadataFor = (req: { runId: string; tenant: string; reservationId: string }) => () =>
  newEventMetadata({
    runId: req.runId,
    tenant: req.tenant,
    causationId: req.reservationId,
    producer: 'budget-guard',
  });

/**
 * Reserve before spend (and settle the previous step in the same statement).
 * The decision and its events commit with an expected version, so concurrent
 * requests (from any number of guard replicas) are serialised per run: a
 * loser re-reads and decides again, and the guard never grants more than the
 * budget holds. The reply is sent only after the commit.
 */
export async function reserve(
  deps: BudgetDeps,
  req: ReserveBudgetRequest,
): Promise<ReserveBudgetReply> {
  const { result, records } = await runStep(deps.pool, budgetAggregate, {
    streamId: streamIds.budget(req.runId),
    decide: (s) => {
      const settled = req.settle ? decideSettle(s, { runId: req.runId, ...req.settle }) : [];
      const { events, outcome } = decideReserve(settled.reduce(evolveBudget, s), req);
      return { events: [...settled, ...events], result: outcome };
    },
    metadata: metadataFor(req),
    cache: deps.cache,
    batcher: deps.batcher,
    maxAttempts: 20,
  });
  deps.publisher.publish(records);
  return { ...result, limitTokens: req.limitTokens };
}

export async function settle(
  deps: BudgetDeps,
  req: SettleBudgetRequest,
): Promise<SettleBudgetReply> {
  const { records } = await runStep(deps.pool, budgetAggregate, {
    streamId: streamIds.budget(req.runId),
    decide: (s) => ({ events: decideSettle(s, req), result: undefined }),
    metadata: metadataFor(req),
    cache: deps.cache,
    batcher: deps.batcher,
    maxAttempts: 20,
  });
  deps.publisher.publish(records);
  return { status: 'settled' };
}
