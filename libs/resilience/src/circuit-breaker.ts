/**
 * A circuit breaker for one dependency (a model provider, a tool endpoint).
 *
 * - `closed`: calls flow. Consecutive failures are counted; a success resets
 *   the count. At `failureThreshold` the breaker opens, with the last
 *   failure's reason.
 * - `open`: `check()` refuses, saying how long until the cool-down
 *   (`coolDownMs`, counted from the moment it opened) is over. The first
 *   `check()` after that moves to `half_open`.
 * - `half_open`: exactly one call at a time is let through as a probe; other
 *   callers are refused with a short `retryInMs`. The probe's success closes
 *   the breaker (count reset); its failure re-opens it with a fresh cool-down.
 *
 * The caller reports every outcome of an allowed call with `recordSuccess()` /
 * `recordFailure(reason)`. The breaker takes no call tokens, so in `half_open`
 * any reported outcome is taken as the probe's; outcomes reported while `open`
 * (late answers to calls let through before it opened) are ignored. A probe
 * whose outcome is never reported does not wedge the breaker: after
 * `coolDownMs` another probe is let through.
 *
 * Time comes only from the injected `now` (epoch ms), so the breaker is pure
 * and deterministic under a fake clock. `onTransition` is called once per
 * state change, after the change.
 */
export type BreakerState = 'closed' | 'open' | 'half_open';

export interface CircuitBreakerOptions {
  /** Consecutive failures in `closed` that open the breaker (integer >= 1). */
  failureThreshold: number;
  /** How long the breaker stays `open` before a probe is allowed (ms, >= 0). */
  coolDownMs: number;
}

export interface BreakerTransition {
  name: string;
  from: BreakerState;
  to: BreakerState;
  reason: string;
  /** Epoch ms, from the injected clock. */
  at: number;
}

export interface CircuitBreakerDeps {
  now?: () => number;
  onTransition?: (t: BreakerTransition) => void;
}

export type BreakerCheck =
  | { allowed: true; probe: boolean }
  | { allowed: false; retryInMs: number; state: 'open' | 'half_open' };

export interface BreakerSnapshot {
  name: string;
  state: BreakerState;
  /** When the breaker entered `state` (epoch ms); construction time for the initial `closed`. */
  since: number;
  /** Why it entered `state`; absent for the initial `closed`. */
  reason?: string;
  consecutiveFailures: number;
}

/** How long a caller refused in `half_open` (a probe is in flight) should wait, at most. */
export const HALF_OPEN_RETRY_IN_MS = 250;

export class CircuitBreaker {
  private current: BreakerState = 'closed';
  private since: number;
  private reason: string | undefined;
  private failures = 0;
  /** When the in-flight probe was let through; undefined when none is. */
  private probeStartedAt: number | undefined;
  private readonly now: () => number;
  private readonly onTransition: ((t: BreakerTransition) => void) | undefined;

  constructor(
    readonly name: string,
    private readonly options: CircuitBreakerOptions,
    deps: CircuitBreakerDeps = {},
  ) {
    if (!Number.isInteger(options.failureThreshold) || options.failureThreshold < 1) {
      throw new RangeError(
        `failureThreshold must be an integer >= 1, got ${options.failureThreshold}`,
      );
    }
    if (!Number.isFinite(options.coolDownMs) || options.coolDownMs < 0) {
      throw new RangeError(`coolDownMs must be a finite number >= 0, got ${options.coolDownMs}`);
    }
    this.now = deps.now ?? Date.now;
    this.onTransition = deps.onTransition;
    this.since = this.now();
  }

  get state(): BreakerState {
    return this.current;
  }

  /** Asks whether a call may go ahead now. An allowed probe must report its outcome. */
  check(): BreakerCheck {
    const now = this.now();
    switch (this.current) {
      case 'closed':
        return { allowed: true, probe: false };
      case 'open': {
        const remaining = this.since + this.options.coolDownMs - now;
        if (remaining > 0) return { allowed: false, retryInMs: remaining, state: 'open' };
        this.transition('half_open', `cool-down of ${this.options.coolDownMs} ms elapsed`, now);
        this.probeStartedAt = now;
        return { allowed: true, probe: true };
      }
      case 'half_open': {
        if (this.probeStartedAt !== undefined) {
          const leaseLeft = this.probeStartedAt + this.options.coolDownMs - now;
          if (leaseLeft > 0) {
            return {
              allowed: false,
              retryInMs: Math.min(HALF_OPEN_RETRY_IN_MS, leaseLeft),
              state: 'half_open',
            };
          }
        }
        this.probeStartedAt = now;
        return { allowed: true, probe: true };
      }
    }
  }

  recordSuccess(): void {
    switch (this.current) {
      case 'closed':
        this.failures = 0;
        return;
      case 'open':
        return;
      case 'half_open':
        this.failures = 0;
        this.probeStartedAt = undefined;
        this.transition('closed', 'probe succeeded', this.now());
        return;
    }
  }

  recordFailure(reason: string): void {
    switch (this.current) {
      case 'closed':
        this.failures += 1;
        if (this.failures >= this.options.failureThreshold) {
          this.transition('open', reason, this.now());
        }
        return;
      case 'open':
        return;
      case 'half_open':
        this.failures += 1;
        this.probeStartedAt = undefined;
        this.transition('open', reason, this.now());
        return;
    }
  }

  snapshot(): BreakerSnapshot {
    return {
      name: this.name,
      state: this.current,
      since: this.since,
      ...(this.reason !== undefined ? { reason: this.reason } : {}),
      consecutiveFailures: this.failures,
    };
  }

  private transition(to: BreakerState, reason: string, at: number): void {
    const from = this.current;
    this.current = to;
    this.since = at;
    this.reason = reason;
    this.onTransition?.({ name: this.name, from, to, reason, at });
  }
}
