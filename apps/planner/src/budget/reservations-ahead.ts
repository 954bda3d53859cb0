import type { ReserveBudgetReply, ReserveBudgetRequest } from '@keel/contracts';
import type { BudgetClient } from './budget-client';

interface Asked {
  readonly request: ReserveBudgetRequest;
  readonly reply: Promise<ReserveBudgetReply | undefined>;
  readonly at: number;
}

/**
 * Reserve-ahead: the next model step's reservation is asked for as soon as
 * the step before it commits a tool round, so the guard's round trip
 * overlaps the tools instead of delaying the next model call. The step then
 * uses the grant if it covers its exact estimate (same model, estimates no
 * larger); otherwise — refused, halted, unanswered, too small, or asked by
 * another replica — it reserves as before, and the guard raises a smaller
 * reservation by the difference. Ahead requests record no refusal and pause
 * nothing at the guard (see `ahead` in the contract), so asking early never
 * changes what a run is allowed.
 *
 * In memory only: losing it (restart, another replica) costs the round trip,
 * never correctness.
 *
 * The kill switch: a grant is used only within `maxAgeMs` of asking. An older
 * one (a slow tool) is asked again, which meets a halt at the guard — so a
 * halt stops every run before its next model call, except a step whose
 * reservation was granted within the last `maxAgeMs`.
 */
export class ReservationsAhead {
  private readonly asked = new Map<string, Asked>();

  constructor(
    private readonly budget: Pick<BudgetClient, 'reserve'>,
    private readonly maxAgeMs = 1_000,
    private readonly ttlMs = 60_000,
    private readonly max = 10_000,
  ) {}

  ask(request: ReserveBudgetRequest): void {
    this.sweep();
    const reply = this.budget.reserve({ ...request, ahead: true }).catch(() => undefined);
    this.asked.set(request.reservationId, { request, reply, at: Date.now() });
  }

  /** The grant asked ahead for this step, if it covers `request`; removes it either way. */
  async take(request: ReserveBudgetRequest): Promise<ReserveBudgetReply | undefined> {
    const asked = this.asked.get(request.reservationId);
    if (!asked) return undefined;
    this.asked.delete(request.reservationId);
    const a = asked.request;
    // Decide what can be decided without the reply first: a step never waits
    // for an ahead request it could not use anyway.
    const fits =
      a.model === request.model &&
      a.inputTokens >= request.inputTokens &&
      a.outputTokens >= request.outputTokens;
    if (!fits || Date.now() - asked.at > this.maxAgeMs) return undefined;
    const reply = await asked.reply;
    const fresh = Date.now() - asked.at <= this.maxAgeMs;
    return fresh && reply?.status === 'granted' ? reply : undefined;
  }

  /** Entries are in asking order: drop the expired ones at the front, then the oldest if full. */
  private sweep(): void {
    const cutoff = Date.now() - this.ttlMs;
    for (const [id, a] of this.asked) {
      if (a.at >= cutoff && this.asked.size < this.max) break;
      this.asked.delete(id);
    }
  }
}
