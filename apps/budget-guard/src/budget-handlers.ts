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
import { newEventMetadata, runStep, type AggregateSpec } from '@keel/runtime';

const budgetAggregate: AggregateSpec<BudgetState, BudgetEvent> = {
  initial: initialBudgetState,
  evolve: evolveBudget,
};

/**
 * Reserve before spend. The decision and its event commit in one transaction
 * with an expected version, so concurrent requests (from any number of guard
 * replicas) are serialised per run: a loser re-reads and decides again, and
 * the guard never grants more than the budget holds. The reply is sent only
 * after the commit.
 */
export async function reserve(pool: Pool, req: ReserveBudgetRequest): Promise<ReserveBudgetReply> {
  const { result } = await runStep(pool, budgetAggregate, {
    streamId: streamIds.budget(req.runId),
    decide: (s) => {
      const { events, outcome } = decideReserve(s, req);
      return { events, result: outcome };
    },
    metadata: () =>
      newEventMetadata({
        runId: req.runId,
        tenant: req.tenant,
        causationId: req.reservationId,
        producer: 'budget-guard',
      }),
    maxAttempts: 20,
  });
  return { ...result, limitTokens: req.limitTokens };
}

export async function settle(pool: Pool, req: SettleBudgetRequest): Promise<SettleBudgetReply> {
  await runStep(pool, budgetAggregate, {
    streamId: streamIds.budget(req.runId),
    decide: (s) => ({ events: decideSettle(s, req), result: undefined }),
    metadata: () =>
      newEventMetadata({
        runId: req.runId,
        tenant: req.tenant,
        causationId: req.reservationId,
        producer: 'budget-guard',
      }),
    maxAttempts: 20,
  });
  return { status: 'settled' };
}
