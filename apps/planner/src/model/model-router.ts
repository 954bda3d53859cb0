import type { Logger } from 'pino';
import { fleetBreakerName, type ModelRole } from '@keel/contracts';
import { CircuitBreaker, type BreakerTransition, type FleetBreakerView } from '@keel/resilience';
import type { ModelMap } from '../config';
import type { ModelClient, ToolMode } from './model-client';

/** A model ready to be asked: its client, how it takes tools, and its provider's breaker. */
export interface ModelTarget {
  readonly client: ModelClient;
  readonly toolMode: ToolMode;
  readonly breaker: CircuitBreaker;
}

export type ModelPick =
  | { readonly ok: true; readonly target: ModelTarget; readonly fallback: boolean }
  /** Every candidate's breaker refuses: try again after `retryInMs`. */
  | {
      readonly ok: false;
      readonly retryInMs: number;
      readonly provider: string;
      readonly model: string;
    };

export interface ModelRouterDeps {
  readonly createClient: (provider: string, model: string) => ModelClient;
  readonly breaker: { failureThreshold: number; coolDownMs: number };
  readonly log: Logger;
  readonly onBreakerTransition?: (t: BreakerTransition) => void;
  /** The fleet-wide breakers (KV-watched); a provider open fleet-wide is avoided here too. */
  readonly fleet?: FleetBreakerView;
}

/**
 * Model tiering: a role → model map with an optional fallback per role. One
 * circuit breaker per provider, shared by every role and model on it, so a
 * failing provider is left alone by all of this replica's runs; while the
 * primary's breaker is open the role's fallback (another provider) answers.
 * The fleet-wide breaker (the budget guard's verdict from every replica's
 * outcomes) is asked first: a provider failing elsewhere is skipped here
 * before this replica has seen a single failure.
 */
export class ModelRouter {
  private readonly breakers = new Map<string, CircuitBreaker>();
  private readonly targets = new Map<string, ModelTarget>();

  constructor(
    private readonly map: ModelMap,
    private readonly deps: ModelRouterDeps,
  ) {}

  pick(role: ModelRole): ModelPick {
    const spec = this.map.roles[role] ?? this.map.roles.reasoning;
    const primary = this.target(spec.provider, spec.model, spec.toolMode);
    const first = this.check(spec.provider, primary);
    if (first.allowed) return { ok: true, target: primary, fallback: false };
    if (spec.fallback) {
      const fb = this.target(spec.fallback.provider, spec.fallback.model, spec.fallback.toolMode);
      if (this.check(spec.fallback.provider, fb).allowed) {
        return { ok: true, target: fb, fallback: true };
      }
    }
    return { ok: false, retryInMs: first.retryInMs, provider: spec.provider, model: spec.model };
  }

  /** The fleet's verdict first, then this replica's own breaker. */
  private check(
    provider: string,
    target: ModelTarget,
  ): { allowed: true } | { allowed: false; retryInMs: number } {
    const fleet = this.deps.fleet?.check(fleetBreakerName.model(provider));
    if (fleet && !fleet.allowed) return fleet;
    return target.breaker.check();
  }

  /** The role's primary model (what a reservation is priced by before the call). */
  modelFor(role: ModelRole): string {
    return (this.map.roles[role] ?? this.map.roles.reasoning).model;
  }

  /** Breaker states by provider, for logs and tests. */
  breakerStates(): Record<string, string> {
    return Object.fromEntries([...this.breakers].map(([p, b]) => [p, b.state]));
  }

  private target(provider: string, model: string, toolMode: ToolMode): ModelTarget {
    const key = `${provider}\u0000${model}`;
    let t = this.targets.get(key);
    if (!t) {
      t = {
        client: this.deps.createClient(provider, model),
        toolMode,
        breaker: this.breaker(provider),
      };
      this.targets.set(key, t);
    }
    return t;
  }

  private breaker(provider: string): CircuitBreaker {
    let b = this.breakers.get(provider);
    if (!b) {
      b = new CircuitBreaker(provider, this.deps.breaker, {
        onTransition: (t) => {
          this.deps.log.warn(
            { provider: t.name, from: t.from, to: t.to, reason: t.reason },
            'model provider breaker transition',
          );
          this.deps.onBreakerTransition?.(t);
        },
      });
      this.breakers.set(provider, b);
    }
    return b;
  }
}
