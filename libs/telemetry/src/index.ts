export * from './start-telemetry';
export * from './logger';
export * from './log-context';
export * from './semantic-names';
export * from './errors';
export * from './unsampled';
