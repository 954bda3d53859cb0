export * from './budget';
export * from './prices';
export * from './fleet-breaker';
