import { AsyncLocalStorage } from 'node:async_hooks';

/**
 * What every log line written while handling one unit of run work carries.
 * Held in AsyncLocalStorage, so it follows awaits and callbacks started inside
 * `withLogContext` and never leaks into concurrent work for other runs.
 */
export interface LogContext {
  runId: string;
  step?: number;
}

const storage = new AsyncLocalStorage<LogContext>();

/**
 * Runs `fn` with `context` as the log context. Nested calls merge with the
 * outer context (e.g. an outer `{ runId }` and an inner `{ runId, step }`).
 */
export function withLogContext<T>(context: LogContext, fn: () => T): T {
  const outer = storage.getStore();
  return storage.run(outer ? { ...outer, ...context } : { ...context }, fn);
}

/** The active log context, if any. */
export function currentLogContext(): LogContext | undefined {
  return storage.getStore();
}
