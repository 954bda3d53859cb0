export * from './run-summary';
export * from './log-folder';
export * from './timeline';
