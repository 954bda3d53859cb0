import type { BudgetEvent } from '@keel/contracts';
import { decideReserve, decideSettle, evolveBudget, initialBudgetState } from './budget';

const runId = '0190f5a0-0000-7000-8000-000000000001';
const fold = (events: BudgetEvent[]) => events.reduce(evolveBudget, initialBudgetState());
const reserve = (reservationId: string, tokens: number) => ({
  runId,
  tenant: 'acme',
  reservationId,
  tokens,
  limitTokens: 1000,
});

describe('budget decider', () => {
  it('grants within the limit, warns at 80 %, and refuses beyond it', () => {
    const a = decideReserve(initialBudgetState(), reserve('s1', 500));
    expect(a.outcome).toMatchObject({ status: 'granted', warning: false });
    const b = decideReserve(fold(a.events), reserve('s2', 350));
    expect(b.outcome).toMatchObject({ status: 'granted', warning: true, committedTokens: 850 });
    const c = decideReserve(fold([...a.events, ...b.events]), reserve('s3', 200));
    expect(c.outcome.status).toBe('exhausted');
    expect(c.events.map((e) => e.type)).toEqual(['BudgetReservationDenied']);
  });

  it('a repeated reservation id is answered from the record, not reserved twice', () => {
    const a = decideReserve(initialBudgetState(), reserve('s1', 500));
    const again = decideReserve(fold(a.events), reserve('s1', 500));
    expect(again.events).toEqual([]);
    expect(again.outcome).toMatchObject({ status: 'granted', committedTokens: 500 });
  });

  it('settling replaces the estimate with the actual usage, once', () => {
    const a = decideReserve(initialBudgetState(), reserve('s1', 500));
    const settled = decideSettle(fold(a.events), {
      runId,
      reservationId: 's1',
      usage: { inputTokens: 100, outputTokens: 20 },
    });
    const state = fold([...a.events, ...settled]);
    expect(state.committedTokens).toBe(120);
    expect(
      decideSettle(state, {
        runId,
        reservationId: 's1',
        usage: { inputTokens: 1, outputTokens: 1 },
      }),
    ).toEqual([]);
  });
});
