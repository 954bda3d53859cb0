import { metrics } from '@opentelemetry/api';

const meter = metrics.getMeter('keel-budget-guard');

/**
 * Budget metrics for Prometheus (when `KEEL_METRICS_PORT` is set), per tenant
 * — not per run: run ids would make unbounded label sets; a run's figures are
 * in its Budget stream.
 */
const reservations = meter.createCounter('keel.budget.reservations', {
  description: 'Reservation answers by tenant and outcome (granted, warning, exhausted, halted)',
});
const tokens = meter.createCounter('keel.budget.tokens', {
  description: 'Tokens actually spent (settled), by tenant',
});
const cost = meter.createCounter('keel.budget.cost_usd', {
  description: 'Cost actually spent (settled) in USD, by tenant',
});

export function countReservation(
  tenant: string,
  outcome: 'granted' | 'warning' | 'exhausted' | 'halted',
): void {
  reservations.add(1, { tenant, outcome });
}

export function countSpend(
  tenant: string,
  usage: { inputTokens: number; outputTokens: number },
  costMicros: number,
): void {
  tokens.add(usage.inputTokens + usage.outputTokens, { tenant });
  cost.add(costMicros / 1_000_000, { tenant });
}
