import type { BudgetEvent, Usage } from '@keel/contracts';

/**
 * A budget ledger, folded from a Budget stream: one run's, or one tenant's day.
 * "Committed" is what settled reservations actually spent plus what open
 * reservations hold; the guard never grants a reservation that would push
 * committed tokens or cost past a limit, so concurrent model calls cannot
 * overspend (reserve before spend). Money is integer micro-dollars.
 */
export interface Amount {
  /** Input plus output. */
  readonly tokens: number;
  readonly inputTokens: number;
  readonly outputTokens: number;
  readonly costMicros: number;
}

export interface Reservation {
  readonly amount: Amount;
  readonly settled?: Amount;
  /** The tenant-day ledger holding the same reservation (settled there too). */
  readonly tenantDay?: string;
}

export interface BudgetState {
  readonly reservations: ReadonlyMap<string, Reservation>;
  readonly denied: ReadonlySet<string>;
  readonly committed: Amount;
  /** The deadline sweeper fired for this run. */
  readonly deadlineFired: boolean;
}

export interface Limits {
  /** null: no limit on this dimension. */
  readonly tokens: number | null;
  readonly costMicros: number | null;
  /** Separate input / output ceilings (a run's, when it has them). */
  readonly inputTokens?: number | null;
  readonly outputTokens?: number | null;
}

export const initialBudgetState = (): BudgetState => ({
  reservations: new Map(),
  denied: new Set(),
  committed: { tokens: 0, inputTokens: 0, outputTokens: 0, costMicros: 0 },
  deadlineFired: false,
});

/** Share of a limit at or above which a grant carries a warning (default). */
export const WARNING_RATIO = 0.8;

const add = (a: Amount, b: Amount): Amount => ({
  tokens: a.tokens + b.tokens,
  inputTokens: a.inputTokens + b.inputTokens,
  outputTokens: a.outputTokens + b.outputTokens,
  costMicros: a.costMicros + b.costMicros,
});
const sub = (a: Amount, b: Amount): Amount => ({
  tokens: a.tokens - b.tokens,
  inputTokens: a.inputTokens - b.inputTokens,
  outputTokens: a.outputTokens - b.outputTokens,
  costMicros: a.costMicros - b.costMicros,
});

export function evolveBudget(state: BudgetState, event: BudgetEvent): BudgetState {
  switch (event.type) {
    case 'BudgetReserved': {
      // Reservations recorded before input/output were split count as input.
      const amount = {
        tokens: event.data.tokens,
        inputTokens: event.data.inputTokens ?? event.data.tokens,
        outputTokens: event.data.outputTokens ?? 0,
        costMicros: event.data.costMicros,
      };
      const reservations = new Map(state.reservations);
      const day = event.data.tenantDay;
      // A second BudgetReserved for an open reservation raises it to the new amount.
      const raised = state.reservations.get(event.data.reservationId);
      const before =
        raised && !raised.settled ? sub(state.committed, raised.amount) : state.committed;
      reservations.set(event.data.reservationId, { amount, ...(day ? { tenantDay: day } : {}) });
      return { ...state, reservations, committed: add(before, amount) };
    }
    case 'BudgetReservationDenied':
      return { ...state, denied: new Set([...state.denied, event.data.reservationId]) };
    case 'BudgetSettled': {
      const r = state.reservations.get(event.data.reservationId);
      if (!r || r.settled) return state;
      const actual = {
        tokens: event.data.usage.inputTokens + event.data.usage.outputTokens,
        inputTokens: event.data.usage.inputTokens,
        outputTokens: event.data.usage.outputTokens,
        costMicros: event.data.costMicros,
      };
      const reservations = new Map(state.reservations);
      reservations.set(event.data.reservationId, { ...r, settled: actual });
      return { ...state, reservations, committed: add(sub(state.committed, r.amount), actual) };
    }
    case 'RunDeadlineExceeded':
      return { ...state, deadlineFired: true };
    case 'FleetBreakerTransitioned':
    case 'SpendingResumed':
      // Recorded on the run's timeline; no effect on its ledger.
      return state;
    default: {
      const unreachable: never = event;
      return unreachable;
    }
  }
}

export type ReserveOutcome =
  | { readonly status: 'granted'; readonly warning: boolean; readonly committed: Amount }
  | { readonly status: 'exhausted'; readonly reason: string; readonly committed: Amount };

export interface ReserveCommand {
  readonly runId: string;
  readonly tenant: string;
  readonly scope: 'run' | 'tenant_day';
  readonly reservationId: string;
  readonly amount: Amount;
  readonly limits: Limits;
  readonly warningRatio?: number;
  /** Run scope: the tenant-day ledger that holds the same reservation. */
  readonly tenantDay?: string;
}

/**
 * What granting `cmd` adds to the ledger: nothing for a reservation already
 * held at this size or more (or settled), the difference for one asked again
 * with a larger estimate (a raise), the whole amount for a new one.
 */
function increment(state: BudgetState, cmd: ReserveCommand): Amount | undefined {
  const held = state.reservations.get(cmd.reservationId);
  if (!held) return cmd.amount;
  if (held.settled || !exceeds(cmd.amount, held.amount)) return undefined;
  const d = sub(cmd.amount, held.amount);
  return {
    tokens: Math.max(0, d.tokens),
    inputTokens: Math.max(0, d.inputTokens),
    outputTokens: Math.max(0, d.outputTokens),
    costMicros: Math.max(0, d.costMicros),
  };
}

const exceeds = (a: Amount, b: Amount) =>
  a.tokens > b.tokens ||
  a.inputTokens > b.inputTokens ||
  a.outputTokens > b.outputTokens ||
  a.costMicros > b.costMicros;

/** Whether `amount` fits; the reason when it does not. Pure, for checking several ledgers first. */
export function fits(state: BudgetState, cmd: ReserveCommand): string | undefined {
  const amount = increment(state, cmd);
  if (!amount) return undefined;
  const after = add(state.committed, amount);
  const what = cmd.scope === 'run' ? 'the run' : "the tenant's day";
  if (state.denied.has(cmd.reservationId)) return `${cmd.reservationId} was refused before`;
  if (cmd.limits.tokens !== null && after.tokens > cmd.limits.tokens)
    return `reserving ${amount.tokens} tokens would commit ${after.tokens} of ${what}'s ${cmd.limits.tokens}`;
  const { inputTokens: inLimit, outputTokens: outLimit } = cmd.limits;
  if (inLimit != null && after.inputTokens > inLimit)
    return `reserving ${amount.inputTokens} input tokens would commit ${after.inputTokens} of ${what}'s ${inLimit}`;
  if (outLimit != null && after.outputTokens > outLimit)
    return `reserving ${amount.outputTokens} output tokens would commit ${after.outputTokens} of ${what}'s ${outLimit}`;
  if (cmd.limits.costMicros !== null && after.costMicros > cmd.limits.costMicros)
    return `reserving $${usd(amount.costMicros)} would commit $${usd(after.costMicros)} of ${what}'s $${usd(cmd.limits.costMicros)}`;
  return undefined;
}

/**
 * Decide a reservation on one ledger. A reservation id already granted
 * returns the recorded outcome and no new event, so a retried request never
 * reserves twice — unless it asks for more than is held (an estimate made
 * ahead of time turned out low): then only the difference is checked, and a
 * grant records the reservation again at the new amount. `refusal` (from
 * `fits` on another ledger) denies it here too.
 */
export function decideReserve(
  state: BudgetState,
  cmd: ReserveCommand,
  refusal?: string,
): { events: BudgetEvent[]; outcome: ReserveOutcome } {
  const ratio = cmd.warningRatio ?? WARNING_RATIO;
  const amount = increment(state, cmd);
  if (!amount) {
    return {
      events: [],
      outcome: {
        status: 'granted',
        warning: isWarning(state.committed, cmd.limits, ratio),
        committed: state.committed,
      },
    };
  }
  const reason = refusal ?? fits(state, cmd);
  if (reason) {
    const events: BudgetEvent[] = state.denied.has(cmd.reservationId)
      ? []
      : [
          {
            type: 'BudgetReservationDenied',
            data: {
              runId: cmd.runId,
              scope: cmd.scope,
              reservationId: cmd.reservationId,
              tokens: cmd.amount.tokens,
              costMicros: cmd.amount.costMicros,
              committedTokens: state.committed.tokens,
              committedCostMicros: state.committed.costMicros,
              reason,
            },
          },
        ];
    return { events, outcome: { status: 'exhausted', reason, committed: state.committed } };
  }
  const after = add(state.committed, amount);
  const warning = isWarning(after, cmd.limits, ratio);
  return {
    events: [
      {
        type: 'BudgetReserved',
        data: {
          runId: cmd.runId,
          tenant: cmd.tenant,
          scope: cmd.scope,
          reservationId: cmd.reservationId,
          tokens: cmd.amount.tokens,
          inputTokens: cmd.amount.inputTokens,
          outputTokens: cmd.amount.outputTokens,
          costMicros: cmd.amount.costMicros,
          limitTokens: cmd.limits.tokens,
          limitCostMicros: cmd.limits.costMicros,
          committedTokens: after.tokens,
          committedCostMicros: after.costMicros,
          warning,
          ...(cmd.tenantDay ? { tenantDay: cmd.tenantDay } : {}),
        },
      },
    ],
    outcome: { status: 'granted', warning, committed: after },
  };
}

/** Settle a reservation with what was actually used; settling twice is a no-op. */
export function decideSettle(
  state: BudgetState,
  cmd: { runId: string; reservationId: string; usage: Usage; costMicros: number },
): BudgetEvent[] {
  const r = state.reservations.get(cmd.reservationId);
  if (!r || r.settled) return [];
  return [
    {
      type: 'BudgetSettled',
      data: {
        runId: cmd.runId,
        reservationId: cmd.reservationId,
        usage: cmd.usage,
        costMicros: cmd.costMicros,
      },
    },
  ];
}

const isWarning = (committed: Amount, limits: Limits, ratio: number) =>
  (limits.tokens !== null && committed.tokens >= limits.tokens * ratio) ||
  (limits.costMicros !== null && committed.costMicros >= limits.costMicros * ratio);

const usd = (micros: number) => (micros / 1_000_000).toFixed(4);
