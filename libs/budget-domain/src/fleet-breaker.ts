import {
  fleetBreakerName,
  MODEL_BREAKER_OPEN,
  type BreakerStateName,
  type KeelEvent,
} from '@keel/contracts';

/**
 * A fleet-wide circuit breaker, decided by the budget guard from the outcome
 * events of every planner and tool-executor replica (docs/design/fleet-breakers.md).
 *
 * Same states as a replica's own breaker, counted across the fleet:
 * - `closed`: consecutive failures are counted; any success resets the
 *   count. At `failureThreshold` it opens with the last failure's reason.
 * - `open`: outcomes are ignored (late answers to calls made before it
 *   opened). After `coolDownMs` the guard's sweeper moves it to `half_open`.
 * - `half_open`: replicas let a few probes through; the first success closes
 *   it, a failure re-opens it with a fresh cool-down.
 * Pure: time is an argument (epoch ms).
 */
export interface FleetBreaker {
  readonly name: string;
  readonly state: BreakerStateName;
  /** When it entered `state` (epoch ms). */
  readonly since: number;
  readonly reason: string;
  readonly failures: number;
}

export interface FleetBreakerPolicy {
  readonly failureThreshold: number;
  readonly coolDownMs: number;
}

export type HealthObservation =
  | { readonly breaker: string; readonly ok: true }
  | { readonly breaker: string; readonly ok: false; readonly reason: string };

export interface BreakerChange {
  readonly next: FleetBreaker;
  readonly transition?: { readonly from: BreakerStateName; readonly to: BreakerStateName };
}

export const closedBreaker = (name: string, now: number): FleetBreaker => ({
  name,
  state: 'closed',
  since: now,
  reason: '',
  failures: 0,
});

/** Apply one observed outcome. */
export function observeHealth(
  b: FleetBreaker,
  obs: HealthObservation,
  policy: FleetBreakerPolicy,
  now: number,
): BreakerChange {
  switch (b.state) {
    case 'closed':
      if (obs.ok) return { next: b.failures === 0 ? b : { ...b, failures: 0 } };
      if (b.failures + 1 >= policy.failureThreshold) {
        return move(b, 'open', obs.reason, now, b.failures + 1);
      }
      return { next: { ...b, failures: b.failures + 1 } };
    case 'open':
      return { next: b };
    case 'half_open':
      return obs.ok
        ? move(b, 'closed', 'probe succeeded', now, 0)
        : move(b, 'open', obs.reason, now, b.failures + 1);
  }
}

/** An open breaker whose cool-down is over moves to `half_open` (the sweeper's job). */
export function coolDownElapsed(
  b: FleetBreaker,
  policy: FleetBreakerPolicy,
  now: number,
): BreakerChange | undefined {
  if (b.state !== 'open' || now < b.since + policy.coolDownMs) return undefined;
  return move(b, 'half_open', `cool-down of ${policy.coolDownMs} ms elapsed`, now, b.failures);
}

/** When an open breaker lets probes through (epoch ms). */
export const probeAt = (b: FleetBreaker, policy: FleetBreakerPolicy): number =>
  b.since + policy.coolDownMs;

function move(
  b: FleetBreaker,
  to: BreakerStateName,
  reason: string,
  now: number,
  failures: number,
): BreakerChange {
  return {
    next: { ...b, state: to, since: now, reason: reason.slice(0, 500), failures },
    transition: { from: b.state, to },
  };
}

/**
 * What an event says about a dependency's health, if anything:
 * - a model provider answered (a decision, or output that failed validation:
 *   the provider is up) or failed transiently (429, 5xx, timeout, reset);
 * - a tool call executed against its breaker and succeeded, or failed with a
 *   retryable error (the executor marks such outcomes with `breaker`).
 * Permanent errors and fail-fast refusals (a breaker's, ours or the fleet's)
 * say nothing about health.
 */
export function healthObservationOf(e: KeelEvent): HealthObservation | undefined {
  switch (e.type) {
    case 'ModelDecisionRecorded':
    case 'ModelOutputRejected':
      return { breaker: fleetBreakerName.model(e.data.provider), ok: true };
    case 'ModelCallFailed':
      return e.data.errorClass === 'transient' && e.data.code !== MODEL_BREAKER_OPEN
        ? { breaker: fleetBreakerName.model(e.data.provider), ok: false, reason: e.data.code }
        : undefined;
    case 'ToolCallSucceeded':
      return e.data.breaker
        ? { breaker: fleetBreakerName.tool(e.data.breaker), ok: true }
        : undefined;
    case 'ToolCallAttemptFailed':
      return e.data.breaker
        ? { breaker: fleetBreakerName.tool(e.data.breaker), ok: false, reason: e.data.error.code }
        : undefined;
    default:
      return undefined;
  }
}

/**
 * The event types the guard follows to count failures (one durable consumer
 * each). Successes are not followed: replicas report the few that matter.
 */
export const HEALTH_EVENT_TYPES = [
  { aggregate: 'run', type: 'ModelCallFailed' },
  { aggregate: 'toolcall', type: 'ToolCallAttemptFailed' },
] as const;

/** Success durables of earlier versions; `keel provision` removes them. */
export const RETIRED_HEALTH_EVENT_TYPES = [
  'ModelDecisionRecorded',
  'ModelOutputRejected',
  'ToolCallSucceeded',
] as const;
