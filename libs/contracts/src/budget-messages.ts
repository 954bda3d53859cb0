import { z } from 'zod';
import { TenantId } from './run-request';
import { Usage } from './events/define';

/**
 * Budget guard request/reply (core NATS). The planner asks before every model
 * call; the guard answers after its own event is committed. Requests are
 * idempotent by `reservationId` (the logical step), so a retried request after
 * a timeout gets the answer already recorded, never a second reservation.
 */
export const ReserveBudgetRequest = z.object({
  runId: z.string().uuid(),
  tenant: TenantId,
  /** `<runId>:<step>`: one reservation per logical model step. */
  reservationId: z.string().min(1).max(200),
  tokens: z.number().int().min(0),
  /** The run's token limit, from its RunRequested event. */
  limitTokens: z.number().int().min(1),
  /** Settle the previous step's reservation in the same guard transaction (one hop instead of two). */
  settle: z.object({ reservationId: z.string().min(1).max(200), usage: Usage }).optional(),
  traceparent: z.string().optional(),
});
export type ReserveBudgetRequest = z.infer<typeof ReserveBudgetRequest>;

export const ReserveBudgetReply = z.discriminatedUnion('status', [
  z.object({
    status: z.literal('granted'),
    warning: z.boolean(),
    committedTokens: z.number(),
    limitTokens: z.number(),
  }),
  z.object({
    status: z.literal('exhausted'),
    reason: z.string(),
    committedTokens: z.number(),
    limitTokens: z.number(),
  }),
  z.object({ status: z.literal('error'), code: z.string(), message: z.string() }),
]);
export type ReserveBudgetReply = z.infer<typeof ReserveBudgetReply>;

export const SettleBudgetRequest = z.object({
  runId: z.string().uuid(),
  tenant: TenantId,
  reservationId: z.string().min(1).max(200),
  usage: Usage,
  traceparent: z.string().optional(),
});
export type SettleBudgetRequest = z.infer<typeof SettleBudgetRequest>;

export const SettleBudgetReply = z.discriminatedUnion('status', [
  z.object({ status: z.literal('settled') }),
  z.object({ status: z.literal('error'), code: z.string(), message: z.string() }),
]);
export type SettleBudgetReply = z.infer<typeof SettleBudgetReply>;
