import type { NatsConnection } from 'nats';
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
    const reply = await this.call(() =>
      requestJson(this.nc, this.names.subjects.budgetReserve.build(), req, {
        timeoutMs: this.timeoutMs,
        schema: ReserveBudgetReply,
      }),
    );
    if (reply.status === 'error')
      throw new RetryableError(`budget guard error ${reply.code}: ${reply.message}`);
    return reply;
  }

  async settle(req: SettleBudgetRequest): Promise<void> {
    const reply = await this.call(() =>
      requestJson(this.nc, this.names.subjects.budgetSettle.build(), req, {
        timeoutMs: this.timeoutMs,
        schema: SettleBudgetReply,
      }),
    );
    if (reply.status === 'error')
      throw new RetryableError(`budget guard error ${reply.code}: ${reply.message}`);
  }

  private async call<T>(fn: () => Promise<T>): Promise<T> {
    try {
      return await fn();
    } catch (err) {
      if (err instanceof RetryableError) throw err;
      throw new RetryableError(
        `budget guard unreachable: ${err instanceof Error ? err.message : String(err)}`,
        { cause: err },
      );
    }
  }
}
