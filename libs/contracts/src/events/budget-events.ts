import { z } from 'zod';
import { TenantId } from '../run-request';
import { defineEvent, Usage } from './define';

/** Events of a Budget stream (`budget:<runId>`). Single writer: the budget guard. */

export const BudgetReserved = defineEvent(
  'BudgetReserved',
  1,
  z.object({
    runId: z.string().uuid(),
    tenant: TenantId,
    reservationId: z.string(),
    tokens: z.number().int().min(0),
    limitTokens: z.number().int(),
    /** Tokens spent plus still reserved, after this reservation. */
    committedTokens: z.number().int(),
    warning: z.boolean(),
  }),
);

export const BudgetReservationDenied = defineEvent(
  'BudgetReservationDenied',
  1,
  z.object({
    runId: z.string().uuid(),
    reservationId: z.string(),
    tokens: z.number().int(),
    limitTokens: z.number().int(),
    committedTokens: z.number().int(),
    reason: z.string(),
  }),
);

export const BudgetSettled = defineEvent(
  'BudgetSettled',
  1,
  z.object({ runId: z.string().uuid(), reservationId: z.string(), usage: Usage }),
);

export const BudgetEvents = [BudgetReserved, BudgetReservationDenied, BudgetSettled] as const;

export const BudgetEvent = z.discriminatedUnion('type', [
  BudgetReserved.schema,
  BudgetReservationDenied.schema,
  BudgetSettled.schema,
]);
export type BudgetEvent = z.infer<typeof BudgetEvent>;
