import { z } from 'zod';
import { TenantId } from '../run-request';
import { BreakerStateName } from '../fleet-breakers';
import { defineEvent, Usage } from './define';

/**
 * Events of Budget streams. Single writer: the budget guard.
 * - `budget:<runId>`: one run's ledger (scope `run`);
 * - `budget:tenant:<tenant>:<yyyy-mm-dd>`: a tenant's day (scope `tenant_day`),
 *   kept when the deployment sets a daily tenant limit;
 * - `budget:<runId>` also holds `RunDeadlineExceeded`, fired by the deadline sweeper.
 * Money is in integer micro-dollars (1 USD = 1,000,000) so sums are exact.
 */

export const BudgetScope = z.enum(['run', 'tenant_day']);

const ReservedV1 = z.object({
  runId: z.string().uuid(),
  tenant: TenantId,
  reservationId: z.string(),
  tokens: z.number().int(),
  limitTokens: z.number().int(),
  committedTokens: z.number().int(),
  warning: z.boolean(),
});

export const BudgetReserved = defineEvent(
  'BudgetReserved',
  2,
  z.object({
    runId: z.string().uuid(),
    tenant: TenantId,
    scope: BudgetScope,
    reservationId: z.string(),
    tokens: z.number().int().min(0),
    /** The split of `tokens` (absent on reservations recorded before it was kept). */
    inputTokens: z.number().int().min(0).optional(),
    outputTokens: z.number().int().min(0).optional(),
    costMicros: z.number().int().min(0),
    /** Limits in force (null: none). */
    limitTokens: z.number().int().nullable(),
    limitCostMicros: z.number().int().nullable(),
    /** Spent plus still reserved, after this reservation. */
    committedTokens: z.number().int(),
    committedCostMicros: z.number().int(),
    warning: z.boolean(),
    /** Run scope: the tenant-day ledger (`yyyy-mm-dd`) that holds the same reservation, if any. */
    tenantDay: z.string().optional(),
  }),
  {
    1: (old) => {
      const v1 = ReservedV1.parse(old);
      return { ...v1, scope: 'run', costMicros: 0, limitCostMicros: null, committedCostMicros: 0 };
    },
  },
);

const DeniedV1 = z.object({
  runId: z.string().uuid(),
  reservationId: z.string(),
  tokens: z.number().int(),
  limitTokens: z.number().int(),
  committedTokens: z.number().int(),
  reason: z.string(),
});

export const BudgetReservationDenied = defineEvent(
  'BudgetReservationDenied',
  2,
  z.object({
    runId: z.string().uuid(),
    scope: BudgetScope,
    reservationId: z.string(),
    tokens: z.number().int(),
    costMicros: z.number().int(),
    committedTokens: z.number().int(),
    committedCostMicros: z.number().int(),
    reason: z.string(),
  }),
  {
    1: (old) => {
      const v1 = DeniedV1.parse(old);
      return {
        runId: v1.runId,
        scope: 'run',
        reservationId: v1.reservationId,
        tokens: v1.tokens,
        costMicros: 0,
        committedTokens: v1.committedTokens,
        committedCostMicros: 0,
        reason: v1.reason,
      };
    },
  },
);

const SettledV1 = z.object({ runId: z.string().uuid(), reservationId: z.string(), usage: Usage });

export const BudgetSettled = defineEvent(
  'BudgetSettled',
  2,
  z.object({
    runId: z.string().uuid(),
    reservationId: z.string(),
    usage: Usage,
    /** What the usage cost, by the deployment's price table for the model. */
    costMicros: z.number().int().min(0),
  }),
  { 1: (old) => ({ ...SettledV1.parse(old), costMicros: 0 }) },
);

/** The run's deadline passed: fired once by the guard's sweeper; the planner ends the run. */
export const RunDeadlineExceeded = defineEvent(
  'RunDeadlineExceeded',
  1,
  z.object({ runId: z.string().uuid(), deadlineAt: z.string(), firedAt: z.string() }),
);

/**
 * A fleet-wide breaker changed state (stream `budget:breaker:<name>`), derived
 * by the guard from outcome events; `runId` is the run whose outcome (or probe
 * time) caused it, so the transition shows in that run's timeline too.
 */
export const FleetBreakerTransitioned = defineEvent(
  'FleetBreakerTransitioned',
  1,
  z.object({
    runId: z.string().uuid(),
    breaker: z.string().min(1).max(300),
    from: BreakerStateName,
    to: BreakerStateName,
    reason: z.string().max(500),
    /** Consecutive failures counted fleet-wide at the transition. */
    failures: z.number().int().min(0),
  }),
);

/** A run paused by the kill switch may go on: the planner resumes it. */
export const SpendingResumed = defineEvent(
  'SpendingResumed',
  1,
  z.object({
    runId: z.string().uuid(),
    /** The halt that paused it: a tenant or `*`. */
    scope: z.string(),
    pausedAt: z.string(),
    resumedBy: z.string().max(200),
  }),
);

export const BudgetEvents = [
  BudgetReserved,
  BudgetReservationDenied,
  BudgetSettled,
  RunDeadlineExceeded,
  FleetBreakerTransitioned,
  SpendingResumed,
] as const;

export const BudgetEvent = z.discriminatedUnion('type', [
  BudgetReserved.schema,
  BudgetReservationDenied.schema,
  BudgetSettled.schema,
  RunDeadlineExceeded.schema,
  FleetBreakerTransitioned.schema,
  SpendingResumed.schema,
]);
export type BudgetEvent = z.infer<typeof BudgetEvent>;
