export * from './run-state';
export * from './evolve';
export * from './decide';
export * from './prompt';
