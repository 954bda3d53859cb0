import { z } from 'zod';

/**
 * Fleet-wide circuit breakers (docs/design/fleet-breakers.md).
 *
 * The budget guard derives each dependency's health from the outcome events
 * of every replica and publishes one `FleetBreakerState` per dependency in the
 * NATS KV bucket `<PREFIX>_BREAKERS`; planner and tool-executor replicas watch
 * it. Names: `model:<provider>` for a model provider, `tool:<breaker key>` for
 * a tool or the dependency several tools share (e.g. `tool:http_get:<host>`).
 */
export const BreakerStateName = z.enum(['closed', 'open', 'half_open']);
export type BreakerStateName = z.infer<typeof BreakerStateName>;

/**
 * The code of a model call a breaker refused before it was made: recorded as
 * a failed attempt (so the run retries later) but no evidence about the provider.
 */
export const MODEL_BREAKER_OPEN = 'MODEL_BREAKER_OPEN';

export const fleetBreakerName = {
  model: (provider: string) => `model:${provider}`,
  tool: (breakerKey: string) => `tool:${breakerKey}`,
} as const;

export const FleetBreakerState = z.object({
  /** `model:<provider>` or `tool:<breaker key>`. */
  name: z.string().min(1).max(300),
  state: BreakerStateName,
  /** When it entered `state` (ISO time). */
  since: z.string(),
  /** Why it entered `state` (the last failure's code, or the probe's result). */
  reason: z.string().max(500),
  /**
   * Consecutive failures counted fleet-wide: so far while closed, when it opened
   * otherwise. While it is above 0 (or the breaker is not closed) replicas report
   * their successes to the guard (`BreakerSuccessReport`); otherwise they need not.
   */
  failures: z.number().int().min(0),
  /** When an open breaker lets probes through (ISO time); absent unless open. */
  probeAt: z.string().optional(),
});
export type FleetBreakerState = z.infer<typeof FleetBreakerState>;

/**
 * A success that matters to a fleet breaker, reported by the replica that
 * recorded it (subject `<prefix>.breakers.success`): it resets the consecutive
 * failures, or closes a half-open breaker. The event is the evidence; this
 * message only points at it, so the guard needs no delivery of the successes
 * that change nothing (nearly all of them).
 */
export const BreakerSuccessReport = z.object({
  breaker: z.string().min(1).max(300),
  /** The success event's id, run and tenant: the cause of a transition it brings. */
  eventId: z.string().uuid(),
  runId: z.string().uuid(),
  tenant: z.string().max(200),
});
export type BreakerSuccessReport = z.infer<typeof BreakerSuccessReport>;

/**
 * The KV key of a breaker. KV keys allow only `[-/_=.a-zA-Z0-9]`, while
 * provider names and hosts may hold `:` and more, so the name is stored
 * base64url-encoded under a readable kind prefix (the value carries the name).
 */
export function fleetBreakerKey(name: string): string {
  const kind = name.startsWith('model:') ? 'model' : 'tool';
  return `${kind}.${Buffer.from(name, 'utf8').toString('base64url')}`;
}

/** The breaker name a KV key stands for (the inverse of `fleetBreakerKey`). */
export function fleetBreakerNameOfKey(key: string): string {
  return Buffer.from(key.slice(key.indexOf('.') + 1), 'base64url').toString('utf8');
}
