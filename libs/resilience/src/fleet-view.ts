import { HALF_OPEN_RETRY_IN_MS, type BreakerState } from './circuit-breaker';

/** A fleet breaker's published state, as a replica reads it (see @keel/contracts FleetBreakerState). */
export interface PublishedBreaker {
  readonly state: BreakerState;
  readonly since: string;
  readonly reason: string;
  /** When an open breaker lets probes through (ISO time). */
  readonly probeAt?: string;
  /** Consecutive failures counted fleet-wide (while closed: so far). */
  readonly failures?: number;
}

export type FleetCheck =
  | { readonly allowed: true; readonly probe: boolean }
  | {
      readonly allowed: false;
      readonly retryInMs: number;
      readonly state: 'open' | 'half_open';
      readonly reason: string;
    };

/**
 * A replica's view of the fleet-wide breakers the budget guard publishes
 * (docs/design/fleet-breakers.md). The replica asks `check(name)` before each
 * call, in addition to its own breaker:
 * - unknown or `closed`: allowed;
 * - `open` before its probe time: refused until then (a dependency failing on
 *   another replica is avoided here too);
 * - `half_open` — or `open` past its probe time, when the guard is late or
 *   down, so a dead guard never blocks a dependency forever — one probe at a
 *   time per replica (a lease of `probeLeaseMs`); the guard closes or re-opens
 *   the breaker from the probe's outcome event.
 * Pure: the KV watcher feeds `apply`, time comes from `now`.
 */
export class FleetBreakerView {
  private readonly states = new Map<string, PublishedBreaker>();
  private readonly leases = new Map<string, number>();
  private readonly now: () => number;
  private readonly probeLeaseMs: number;

  constructor(opts: { now?: () => number; probeLeaseMs?: number } = {}) {
    this.now = opts.now ?? Date.now;
    this.probeLeaseMs = opts.probeLeaseMs ?? 5_000;
  }

  /** A published state arrived (`undefined`: the key was deleted). */
  apply(name: string, published: PublishedBreaker | undefined): void {
    const before = this.states.get(name)?.state;
    if (published) this.states.set(name, published);
    else this.states.delete(name);
    if (published?.state !== before) this.leases.delete(name);
  }

  check(name: string): FleetCheck {
    const b = this.states.get(name);
    if (!b || b.state === 'closed') return { allowed: true, probe: false };
    const now = this.now();
    if (b.state === 'open') {
      const probeAt = Date.parse(b.probeAt ?? b.since);
      if (now < probeAt) {
        return { allowed: false, retryInMs: probeAt - now, state: 'open', reason: b.reason };
      }
    }
    const lease = this.leases.get(name);
    if (lease !== undefined && now < lease) {
      return {
        allowed: false,
        retryInMs: Math.min(HALF_OPEN_RETRY_IN_MS, lease - now),
        state: 'half_open',
        reason: b.reason,
      };
    }
    this.leases.set(name, now + this.probeLeaseMs);
    return { allowed: true, probe: true };
  }

  /**
   * Whether a success against this breaker changes it — it counted failures or
   * is not closed — so the replica should report it to the guard. Unknown or
   * closed with nothing counted: no. A success in the moment between a failure
   * being counted and its value reaching this view goes unreported: the count
   * is not reset, so the breaker errs towards opening (a deliberate trade).
   */
  successMatters(name: string): boolean {
    const b = this.states.get(name);
    return b !== undefined && (b.state !== 'closed' || (b.failures ?? 0) > 0);
  }

  /** States by breaker name, for logs and tests. */
  snapshot(): Record<string, BreakerState> {
    return Object.fromEntries([...this.states].map(([n, b]) => [n, b.state]));
  }
}
