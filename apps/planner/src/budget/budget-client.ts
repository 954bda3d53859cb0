import type { NatsConnection } from 'nats';
import type { z } from 'zod';
import {
  ReserveBudgetReply,
  SettleBudgetReply,
  type KeelNames,
  type ReserveBudgetRequest,
  type SettleBudgetRequest,
} from '@keel/contracts';
import { requestJson, RetryableError } from '@keel/messaging';

/**
 * The planner's side of reserve-before-spend. Fails closed: when no guard
 * answers (down, partitioned, slow), this throws a RetryableError and the
 * model call does not happen; the triggering message is redelivered later.
 */
export class BudgetClient {
  constructor(
    private readonly nc: NatsConnection,
    private readonly names: KeelNames,
    private readonly timeoutMs: number,
  ) {}

  async reserve(req: ReserveBudgetRequest): Promise<ReserveBudgetReply> {
    const reply = await this.call(
      this.names.subjects.budgetReserve.build(),
      req,
      ReserveBudgetReply,
    );
    if (reply.status === 'error') throw guardError(reply);
    return reply;
  }

  async settle(req: SettleBudgetRequest): Promise<void> {
    const reply = await this.call(this.names.subjects.budgetSettle.build(), req, SettleBudgetReply);
    if (reply.status === 'error') throw guardError(reply);
  }

  /** One request; any failure to get an answer is retryable (fail closed, try later). */
  private async call<T>(subject: string, req: unknown, schema: z.ZodType<T>): Promise<T> {
    try {
      return await requestJson(this.nc, subject, req, { timeoutMs: this.timeoutMs, schema });
    } catch (err) {
      throw new RetryableError(
        `budget guard unreachable: ${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      );
    }
  }
}

const guardError = (reply: { code: string; message: string }) =>
  new RetryableError(`budget guard error ${reply.code}: ${reply.message}`);
