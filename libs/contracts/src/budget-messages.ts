import { z } from 'zod';
import { TenantId } from './run-request';
import { Usage } from './events/define';

/**
 * Budget guard request/reply (core NATS). The planner asks before every model
 * call; the guard answers after its events are committed. Requests are
 * idempotent by `reservationId` (the logical step), so a retried request after
 * a timeout gets the answer already recorded, never a second reservation.
 */

const Settlement = z.object({
  reservationId: z.string().min(1).max(200),
  usage: Usage,
  /** The model that spent it: its price turns the usage into cost. */
  model: z.string().max(200),
});

export const ReserveBudgetRequest = z.object({
  runId: z.string().uuid(),
  tenant: TenantId,
  /** `<runId>:<step>`: one reservation per logical model step. */
  reservationId: z.string().min(1).max(200),
  /** The model about to be called (priced by the guard's table). */
  model: z.string().max(200),
  /** Estimates: the prompt's tokens and the output cap. */
  inputTokens: z.number().int().min(0),
  outputTokens: z.number().int().min(0),
  /** The run's limits, from its RunRequested event. */
  limitTokens: z.number().int().min(1),
  /** Separate input / output ceilings of the run, when it has them. */
  limitInputTokens: z.number().int().min(1).optional(),
  limitOutputTokens: z.number().int().min(1).optional(),
  limitCostUsd: z.number().min(0).optional(),
  /** The run's deadline: the guard arms a timer for it (idempotent). */
  deadlineAt: z.string().optional(),
  /** Settle the previous step's reservation in the same guard transaction (one hop instead of two). */
  settle: Settlement.optional(),
  /**
   * Reserved ahead (while the step's tools still run): a refusal or a halt is
   * answered but not recorded, and the run is not paused — the step asks
   * again, with its exact estimate, when it comes.
   */
  ahead: z.boolean().optional(),
  traceparent: z.string().optional(),
});
export type ReserveBudgetRequest = z.infer<typeof ReserveBudgetRequest>;

const Committed = { committedTokens: z.number(), committedCostUsd: z.number() };

export const ReserveBudgetReply = z.discriminatedUnion('status', [
  z.object({ status: z.literal('granted'), warning: z.boolean(), ...Committed }),
  z.object({ status: z.literal('exhausted'), reason: z.string(), ...Committed }),
  /** The kill switch is on for this tenant (or everyone): no new spending until released. */
  z.object({ status: z.literal('halted'), reason: z.string(), since: z.string() }),
  z.object({ status: z.literal('error'), code: z.string(), message: z.string() }),
]);
export type ReserveBudgetReply = z.infer<typeof ReserveBudgetReply>;

export const SettleBudgetRequest = Settlement.extend({
  runId: z.string().uuid(),
  tenant: TenantId,
  /** The run ended: its deadline timer is disarmed. */
  final: z.boolean().optional(),
  traceparent: z.string().optional(),
});
export type SettleBudgetRequest = z.infer<typeof SettleBudgetRequest>;

export const SettleBudgetReply = z.discriminatedUnion('status', [
  z.object({ status: z.literal('settled') }),
  z.object({ status: z.literal('error'), code: z.string(), message: z.string() }),
]);
export type SettleBudgetReply = z.infer<typeof SettleBudgetReply>;

/**
 * The kill switch (core NATS request/reply to any guard replica): halt new
 * spending for one tenant or for everyone (`scope: "*"`), or release it.
 * Running runs pause before their next model call and resume when released.
 */
export const SpendingHaltCommand = z
  .object({
    scope: z.union([z.literal('*'), TenantId]),
    reason: z.string().min(1).max(500),
    requestedBy: z.string().min(1).max(200),
  })
  .strict();
export type SpendingHaltCommand = z.infer<typeof SpendingHaltCommand>;

export const SpendingReleaseCommand = z
  .object({ scope: z.union([z.literal('*'), TenantId]), requestedBy: z.string().min(1).max(200) })
  .strict();
export type SpendingReleaseCommand = z.infer<typeof SpendingReleaseCommand>;

export const SpendingControlReply = z.discriminatedUnion('status', [
  z.object({
    status: z.literal('accepted'),
    /** Scopes halted after this command. */
    halted: z.array(z.object({ scope: z.string(), reason: z.string(), since: z.string() })),
  }),
  z.object({ status: z.literal('error'), code: z.string(), message: z.string() }),
]);
export type SpendingControlReply = z.infer<typeof SpendingControlReply>;
