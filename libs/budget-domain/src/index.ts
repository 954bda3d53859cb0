export * from './budget';
export * from './prices';
