export { fullJitterBackoffMs } from './backoff';
export { retryDecision, type RetryPolicy, type RetryDecision } from './retry-policy';
export {
  CircuitBreaker,
  HALF_OPEN_RETRY_IN_MS,
  type BreakerState,
  type BreakerTransition,
  type BreakerCheck,
  type BreakerSnapshot,
  type CircuitBreakerOptions,
  type CircuitBreakerDeps,
} from './circuit-breaker';
export { FleetBreakerView, type FleetCheck, type PublishedBreaker } from './fleet-view';
