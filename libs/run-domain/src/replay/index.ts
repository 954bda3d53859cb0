export * from './state-diff';
export * from './rebuild';
export * from './planner-deciders';
export * from './re-execute';
