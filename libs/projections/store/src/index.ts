export * from './summary-rows';
export * from './summary-queries';
export * from './log-rows';
export * from './rebuild';
export * from './api-keys';
