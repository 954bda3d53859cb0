export * from './tool-definition';
export * from './queryable';
export * from './registry';
export * from './builtin';
export * from './mcp';
