import type { BudgetEvent } from '@keel/contracts';
import {
  decideReserve,
  decideSettle,
  evolveBudget,
  fits,
  initialBudgetState,
  type ReserveCommand,
} from './budget';
import { costMicros } from './prices';

const runId = '0190f5a0-0000-7000-8000-000000000001';
const fold = (events: BudgetEvent[]) => events.reduce(evolveBudget, initialBudgetState());
const reserve = (
  reservationId: string,
  tokens: number,
  over: Partial<ReserveCommand> = {},
): ReserveCommand => ({
  runId,
  tenant: 'acme',
  scope: 'run',
  reservationId,
  amount: { tokens, inputTokens: tokens, outputTokens: 0, costMicros: 0 },
  limits: { tokens: 1000, costMicros: null },
  ...over,
});

describe('budget decider', () => {
  it('grants within the limit, warns at 80 %, and refuses beyond it', () => {
    const a = decideReserve(initialBudgetState(), reserve('s1', 500));
    expect(a.outcome).toMatchObject({ status: 'granted', warning: false });
    const b = decideReserve(fold(a.events), reserve('s2', 350));
    expect(b.outcome).toMatchObject({
      status: 'granted',
      warning: true,
      committed: { tokens: 850 },
    });
    const c = decideReserve(fold([...a.events, ...b.events]), reserve('s3', 200));
    expect(c.outcome.status).toBe('exhausted');
    expect(c.events.map((e) => e.type)).toEqual(['BudgetReservationDenied']);
  });

  it('a repeated reservation id is answered from the record, not reserved twice', () => {
    const a = decideReserve(initialBudgetState(), reserve('s1', 500));
    const again = decideReserve(fold(a.events), reserve('s1', 500));
    expect(again.events).toEqual([]);
    expect(again.outcome).toMatchObject({ status: 'granted', committed: { tokens: 500 } });
  });

  it('asked again with a larger estimate, a reservation is raised by the difference, checked against the limit', () => {
    const a = decideReserve(initialBudgetState(), reserve('s1', 500));
    const smaller = decideReserve(fold(a.events), reserve('s1', 300));
    expect(smaller.events).toEqual([]);
    const raised = decideReserve(fold(a.events), reserve('s1', 700));
    expect(raised.outcome).toMatchObject({ status: 'granted', committed: { tokens: 700 } });
    expect(raised.events).toMatchObject([
      { type: 'BudgetReserved', data: { reservationId: 's1', tokens: 700, committedTokens: 700 } },
    ]);
    const state = fold([...a.events, ...raised.events]);
    expect(state.committed.tokens).toBe(700);
    expect(state.reservations.get('s1')?.amount.tokens).toBe(700);
    // Only the difference (+600) is checked: 700 + 600 > 1000.
    const tooMuch = decideReserve(state, reserve('s1', 1300));
    expect(tooMuch.outcome.status).toBe('exhausted');
    expect(fits(state, reserve('s1', 1000))).toBeUndefined();
    // A settled reservation is never raised.
    const settled = fold([
      ...a.events,
      ...decideSettle(fold(a.events), {
        runId,
        reservationId: 's1',
        usage: { inputTokens: 10, outputTokens: 0 },
        costMicros: 0,
      }),
    ]);
    expect(decideReserve(settled, reserve('s1', 900)).events).toEqual([]);
  });

  it('settling replaces the reservation by the actual usage and cost, once', () => {
    const a = decideReserve(initialBudgetState(), reserve('s1', 800));
    const settle = {
      runId,
      reservationId: 's1',
      usage: { inputTokens: 100, outputTokens: 50 },
      costMicros: 42,
    };
    const s = decideSettle(fold(a.events), settle);
    const state = fold([...a.events, ...s]);
    expect(state.committed).toEqual({
      tokens: 150,
      inputTokens: 100,
      outputTokens: 50,
      costMicros: 42,
    });
    expect(decideSettle(state, settle)).toEqual([]);
  });

  it('separate input and output limits each refuse what the combined limit would allow', () => {
    const amount = { tokens: 300, inputTokens: 100, outputTokens: 200, costMicros: 0 };
    const granted = decideReserve(
      initialBudgetState(),
      reserve('s1', 300, { amount, limits: { tokens: 1000, costMicros: null, outputTokens: 300 } }),
    );
    expect(granted.outcome.status).toBe('granted');
    expect(granted.events[0]!.data).toMatchObject({ inputTokens: 100, outputTokens: 200 });
    const out = decideReserve(
      fold(granted.events),
      reserve('s2', 300, { amount, limits: { tokens: 1000, costMicros: null, outputTokens: 300 } }),
    );
    expect(out.outcome.status === 'exhausted' && out.outcome.reason).toMatch(
      /200 output tokens would commit 400 of the run's 300/,
    );
    const input = decideReserve(
      initialBudgetState(),
      reserve('s1', 300, { amount, limits: { tokens: 1000, costMicros: null, inputTokens: 50 } }),
    );
    expect(input.outcome.status === 'exhausted' && input.outcome.reason).toMatch(/input tokens/);
  });

  it('a cost limit refuses what the token limit would allow', () => {
    const cmd = reserve('s1', 10, {
      amount: { tokens: 10, inputTokens: 10, outputTokens: 0, costMicros: 3_000_000 },
      limits: { tokens: null, costMicros: 2_500_000 },
    });
    const r = decideReserve(initialBudgetState(), cmd);
    expect(r.outcome).toMatchObject({ status: 'exhausted' });
    expect(r.outcome.status === 'exhausted' && r.outcome.reason).toMatch(/\$3\.0000 .* \$2\.5000/);
  });

  it('a refusal from another ledger (the tenant-day) denies this one too', () => {
    const day = reserve('s1', 900, {
      scope: 'tenant_day',
      limits: { tokens: 500, costMicros: null },
    });
    const why = fits(initialBudgetState(), day);
    expect(why).toMatch(/tenant's day/);
    const onRun = decideReserve(initialBudgetState(), reserve('s1', 900), why);
    expect(onRun.outcome.status).toBe('exhausted');
    expect(onRun.events[0]).toMatchObject({
      type: 'BudgetReservationDenied',
      data: { scope: 'run' },
    });
  });
});

describe('prices', () => {
  it('micro-dollars: USD per million tokens times tokens, rounded up; unknown models use "*" or cost nothing', () => {
    const table = {
      big: { inputPerMTok: 3, outputPerMTok: 15 },
      '*': { inputPerMTok: 1, outputPerMTok: 1 },
    };
    expect(costMicros(table, 'big', { inputTokens: 1000, outputTokens: 100 })).toBe(4500);
    expect(costMicros(table, 'other', { inputTokens: 10, outputTokens: 10 })).toBe(20);
    expect(costMicros({}, 'any', { inputTokens: 10, outputTokens: 10 })).toBe(0);
  });
});
