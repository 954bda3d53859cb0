export * from './tool-definition';
export * from './queryable';
export * from './canonical-json';
export * from './registry';
export * from './builtin';
export * from './mcp';
