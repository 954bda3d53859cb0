import type { DeliveryEvent, ErrorInfo } from '@keel/contracts';
import { retryDecision, type RetryPolicy } from '@keel/resilience';

/**
 * The state of one delivery (`delivery:<deliveryId>`), folded from its events,
 * and what the outbox records after an attempt. Pure: no I/O, no clock.
 *
 * Stream layout: version 1 is `DeliveryRequested`, appended by the tool that
 * wants the side effect (in the same transaction as its own outcome). Every
 * later event is appended by the outbox — the only writer after the first
 * event — with an expected version: zero or more `DeliveryAttemptFailed`, then
 * exactly one of `DeliverySucceeded` / `DeliveryFailed`.
 */

export type DeliveryRequest = Extract<DeliveryEvent, { type: 'DeliveryRequested' }>['data'];

interface Recorded {
  readonly request: DeliveryRequest;
  /** Attempts recorded so far (failed ones, plus the successful one once succeeded). */
  readonly attempts: number;
  /** The last failed attempt's error, if any. */
  readonly lastError: ErrorInfo | undefined;
}

export type DeliveryState =
  | { readonly status: 'none' }
  | (Recorded & { readonly status: 'pending' })
  | (Recorded & { readonly status: 'succeeded'; readonly receipt: string | undefined })
  | (Recorded & { readonly status: 'failed'; readonly error: ErrorInfo });

export type PendingDelivery = Extract<DeliveryState, { status: 'pending' }>;

export const initialDeliveryState = (): DeliveryState => ({ status: 'none' });

/** Applies one event. Events that make no sense in the current state (none should exist) are ignored. */
export function evolveDelivery(state: DeliveryState, event: DeliveryEvent): DeliveryState {
  switch (event.type) {
    case 'DeliveryRequested':
      if (state.status !== 'none') return state;
      return { status: 'pending', request: event.data, attempts: 0, lastError: undefined };
    case 'DeliveryAttemptFailed':
      if (state.status !== 'pending') return state;
      return {
        ...state,
        attempts: Math.max(state.attempts, event.data.attempt),
        lastError: event.data.error,
      };
    case 'DeliverySucceeded':
      if (state.status !== 'pending') return state;
      return {
        ...state,
        status: 'succeeded',
        attempts: event.data.attempts,
        receipt: event.data.receipt,
      };
    case 'DeliveryFailed':
      if (state.status !== 'pending') return state;
      return { ...state, status: 'failed', attempts: event.data.attempts, error: event.data.error };
  }
}

/** `{ initial, evolve }` for `loadAggregate` / `commitStep` (@keel/runtime). */
export const deliveryAggregate = {
  initial: initialDeliveryState,
  evolve: evolveDelivery,
};

/**
 * What one attempt came to, as a channel (webhook, email) classifies it.
 * A failure's `error.retryable` says whether trying again can help;
 * `retryAfterMs` is the receiver's own wish (Retry-After), if it said one.
 */
export type AttemptOutcome =
  | { readonly ok: true; readonly receipt: string }
  | { readonly ok: false; readonly error: ErrorInfo; readonly retryAfterMs?: number };

/**
 * What to record after an attempt, and how the message ends:
 * - `succeeded`: `DeliverySucceeded`; ack.
 * - `retry`: `DeliveryAttemptFailed` with `retryInMs`; redeliver after that delay.
 * - `failed`: `DeliveryAttemptFailed` (retryInMs null) + `DeliveryFailed`; dead-letter with `error`.
 */
export type AttemptVerdict =
  | { readonly kind: 'succeeded'; readonly events: DeliveryEvent[] }
  | { readonly kind: 'retry'; readonly events: DeliveryEvent[]; readonly retryInMs: number }
  | { readonly kind: 'failed'; readonly events: DeliveryEvent[]; readonly error: ErrorInfo };

/** Code of `DeliveryFailed` when a transient failure had no attempts (or deliveries) left. */
export const ATTEMPTS_EXHAUSTED = 'DELIVERY_ATTEMPTS_EXHAUSTED';

/**
 * Decides what an attempt's outcome means for a pending delivery. The attempt
 * is number `state.attempts + 1`. A transient failure is retried while
 * `retryDecision` (libs/resilience) allows it — attempts left, Retry-After
 * not longer than the policy accepts — and `lastDelivery` is false (the
 * message's last allowed JetStream delivery ends the delivery, so the stream
 * never stays pending behind a dead-lettered message).
 */
export function decideAttempt(
  state: PendingDelivery,
  outcome: AttemptOutcome,
  policy: RetryPolicy,
  opts: { lastDelivery?: boolean; random?: () => number } = {},
): AttemptVerdict {
  const { deliveryId, runId } = state.request;
  const attempt = state.attempts + 1;
  if (outcome.ok) {
    return {
      kind: 'succeeded',
      events: [
        {
          type: 'DeliverySucceeded',
          data: { deliveryId, runId, attempts: attempt, receipt: outcome.receipt.slice(0, 500) },
        },
      ],
    };
  }
  const error = clip(outcome.error);
  let giveUp: ErrorInfo | undefined;
  let retryInMs = 0;
  if (!error.retryable) {
    giveUp = error;
  } else {
    const decision = retryDecision(attempt, policy, {
      ...(outcome.retryAfterMs !== undefined ? { retryAfterMs: outcome.retryAfterMs } : {}),
      ...(opts.random ? { random: opts.random } : {}),
    });
    if (!decision.retry) giveUp = exhausted(decision.reason, error);
    else if (opts.lastDelivery)
      giveUp = exhausted(`the message's last allowed delivery (attempt ${attempt})`, error);
    else retryInMs = decision.delayMs;
  }
  const failedAttempt: DeliveryEvent = {
    type: 'DeliveryAttemptFailed',
    data: { deliveryId, runId, attempt, error, retryInMs: giveUp ? null : retryInMs },
  };
  if (!giveUp) return { kind: 'retry', events: [failedAttempt], retryInMs };
  return {
    kind: 'failed',
    events: [
      failedAttempt,
      { type: 'DeliveryFailed', data: { deliveryId, runId, error: giveUp, attempts: attempt } },
    ],
    error: giveUp,
  };
}

function exhausted(reason: string, last: ErrorInfo): ErrorInfo {
  return clip({
    code: ATTEMPTS_EXHAUSTED,
    message: `${reason}; last error ${last.code}: ${last.message}`,
    retryable: false,
  });
}

/** Keeps an error within the event schema's limits. */
function clip(e: ErrorInfo): ErrorInfo {
  return { code: e.code.slice(0, 64), message: e.message.slice(0, 2000), retryable: e.retryable };
}
