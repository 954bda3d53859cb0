import type { BudgetEvent, Usage } from '@keel/contracts';

/**
 * A run's token budget, folded from its Budget stream. "Committed" tokens are
 * those actually spent on settled reservations plus those still reserved: the
 * guard never grants a reservation that would push committed past the limit,
 * so concurrent model calls cannot overspend (reserve before spend).
 */
export interface Reservation {
  readonly tokens: number;
  readonly settled?: Usage;
}

export interface BudgetState {
  readonly reservations: ReadonlyMap<string, Reservation>;
  readonly denied: ReadonlySet<string>;
  readonly committedTokens: number;
}

export const initialBudgetState = (): BudgetState => ({
  reservations: new Map(),
  denied: new Set(),
  committedTokens: 0,
});

/** Share of the limit at or above which a grant carries a warning. */
export const WARNING_RATIO = 0.8;

export function evolveBudget(state: BudgetState, event: BudgetEvent): BudgetState {
  switch (event.type) {
    case 'BudgetReserved': {
      const reservations = new Map(state.reservations);
      reservations.set(event.data.reservationId, { tokens: event.data.tokens });
      return { ...state, reservations, committedTokens: state.committedTokens + event.data.tokens };
    }
    case 'BudgetReservationDenied':
      return { ...state, denied: new Set([...state.denied, event.data.reservationId]) };
    case 'BudgetSettled': {
      const r = state.reservations.get(event.data.reservationId);
      if (!r || r.settled) return state;
      const reservations = new Map(state.reservations);
      reservations.set(event.data.reservationId, { ...r, settled: event.data.usage });
      const actual = event.data.usage.inputTokens + event.data.usage.outputTokens;
      return { ...state, reservations, committedTokens: state.committedTokens - r.tokens + actual };
    }
    default: {
      const unreachable: never = event;
      return unreachable;
    }
  }
}

export type ReserveOutcome =
  | { readonly status: 'granted'; readonly warning: boolean; readonly committedTokens: number }
  | { readonly status: 'exhausted'; readonly reason: string; readonly committedTokens: number };

export interface ReserveCommand {
  readonly runId: string;
  readonly tenant: string;
  readonly reservationId: string;
  readonly tokens: number;
  readonly limitTokens: number;
}

/**
 * Decide a reservation. A reservation id already decided returns the recorded
 * outcome and no new event, so a retried request never reserves twice.
 */
export function decideReserve(
  state: BudgetState,
  cmd: ReserveCommand,
): { events: BudgetEvent[]; outcome: ReserveOutcome } {
  if (state.reservations.has(cmd.reservationId)) {
    return {
      events: [],
      outcome: {
        status: 'granted',
        warning: isWarning(state.committedTokens, cmd.limitTokens),
        committedTokens: state.committedTokens,
      },
    };
  }
  const after = state.committedTokens + cmd.tokens;
  if (state.denied.has(cmd.reservationId) || after > cmd.limitTokens) {
    const reason = `reserving ${cmd.tokens} tokens would commit ${after} of ${cmd.limitTokens}`;
    const events: BudgetEvent[] = state.denied.has(cmd.reservationId)
      ? []
      : [
          {
            type: 'BudgetReservationDenied',
            data: {
              runId: cmd.runId,
              reservationId: cmd.reservationId,
              tokens: cmd.tokens,
              limitTokens: cmd.limitTokens,
              committedTokens: state.committedTokens,
              reason,
            },
          },
        ];
    return {
      events,
      outcome: { status: 'exhausted', reason, committedTokens: state.committedTokens },
    };
  }
  const warning = isWarning(after, cmd.limitTokens);
  return {
    events: [
      {
        type: 'BudgetReserved',
        data: {
          runId: cmd.runId,
          tenant: cmd.tenant,
          reservationId: cmd.reservationId,
          tokens: cmd.tokens,
          limitTokens: cmd.limitTokens,
          committedTokens: after,
          warning,
        },
      },
    ],
    outcome: { status: 'granted', warning, committedTokens: after },
  };
}

/** Settle a reservation with what was actually used; settling twice is a no-op. */
export function decideSettle(
  state: BudgetState,
  cmd: { runId: string; reservationId: string; usage: Usage },
): BudgetEvent[] {
  const r = state.reservations.get(cmd.reservationId);
  if (!r || r.settled) return [];
  return [
    {
      type: 'BudgetSettled',
      data: { runId: cmd.runId, reservationId: cmd.reservationId, usage: cmd.usage },
    },
  ];
}

const isWarning = (committed: number, limit: number) => committed >= limit * WARNING_RATIO;
