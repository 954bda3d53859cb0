export * from './config';
export * from './event-metadata';
export * from './event-routing';
export * from './aggregate-step';
export * from './tokens';
export * from './core.module';
export * from './bootstrap';
export * from './topology';
