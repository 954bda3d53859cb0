import { z } from 'zod';
import { PriceTable } from '@keel/budget-domain';
import { BaseConfig, jsonEnv } from '@keel/runtime';

const TenantBudget = z
  .object({
    dailyTokens: z.number().int().min(1).optional(),
    dailyCostUsd: z.number().min(0).optional(),
  })
  .strict();

export const BudgetGuardConfig = BaseConfig.extend({
  /** Model → USD per million input/output tokens (`"*"` for any other model). Default: all free. */
  KEEL_MODEL_PRICES: jsonEnv(PriceTable).default({}),
  /** Daily limits every tenant gets (unset: none). */
  KEEL_TENANT_DAILY_TOKENS: z.coerce.number().int().min(1).optional(),
  KEEL_TENANT_DAILY_COST_USD: z.coerce.number().min(0).optional(),
  /** Per-tenant daily limits: `{"acme": {"dailyTokens": 1000000, "dailyCostUsd": 50}}`. */
  KEEL_TENANT_BUDGETS: jsonEnv(z.record(z.string(), TenantBudget)).default({}),
  /** Share of a limit at which grants carry a warning (the planner then synthesizes). */
  KEEL_BUDGET_WARNING_RATIO: z.coerce.number().gt(0).max(1).default(0.8),
  /**
   * How long a replica may decide reservations on its copy of the spending halts; a halt is
   * answered only this long after its commit, when every replica's copy holds it. 0: read the
   * halts for every reservation (and answer a halt at once).
   */
  KEEL_HALT_LEASE_MS: z.coerce.number().int().min(0).max(60_000).default(1000),
  /** How often the deadline sweeper looks for due timers. */
  KEEL_DEADLINE_SWEEP_MS: z.coerce.number().int().min(50).max(10_000).default(250),
  /** Consecutive transient failures, fleet-wide, that open a dependency's fleet breaker. */
  KEEL_FLEET_BREAKER_FAILURES: z.coerce.number().int().min(1).default(5),
  /** How long a fleet breaker stays open before replicas may probe. */
  KEEL_FLEET_BREAKER_COOLDOWN_MS: z.coerce.number().int().min(0).default(30_000),
  /** How often the guard moves cooled-down breakers to half-open and re-syncs the KV bucket. */
  KEEL_FLEET_BREAKER_SWEEP_MS: z.coerce.number().int().min(50).max(10_000).default(500),
});
export type BudgetGuardConfig = z.infer<typeof BudgetGuardConfig>;

/** Nest token of the parsed config. */
export const BUDGET_GUARD_CONFIG = Symbol('BUDGET_GUARD_CONFIG');

/** A tenant's daily limits in micro-dollars, or null when it has none. */
export function tenantDailyLimits(c: BudgetGuardConfig, tenant: string) {
  const own = c.KEEL_TENANT_BUDGETS[tenant];
  const tokens = own?.dailyTokens ?? c.KEEL_TENANT_DAILY_TOKENS ?? null;
  const costUsd = own?.dailyCostUsd ?? c.KEEL_TENANT_DAILY_COST_USD ?? null;
  if (tokens === null && costUsd === null) return null;
  return { tokens, costMicros: costUsd === null ? null : Math.round(costUsd * 1_000_000) };
}
