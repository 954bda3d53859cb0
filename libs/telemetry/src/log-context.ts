import { context, createContextKey } from '@opentelemetry/api';
import { AsyncLocalStorageContextManager } from '@opentelemetry/context-async-hooks';

/**
 * What every log line written while handling one unit of run work carries.
 * It follows awaits and callbacks started inside `withLogContext` and never
 * leaks into concurrent work for other runs.
 */
export interface LogContext {
  runId: string;
  step?: number;
}

/**
 * The log context rides in OpenTelemetry's context, not in an
 * `AsyncLocalStorage` of its own: on Node 20 every store runs a hook for
 * every promise the process creates (~100 ns each, measured), so a second
 * store taxed all async work. Work that starts from another context (a
 * consumer's span parent is built from the message's headers) starts without
 * a log context, as before.
 */
const LOG_CONTEXT = createContextKey('keel.log-context');

/**
 * Runs `fn` with `logContext` as the log context. Nested calls merge with the
 * outer context (e.g. an outer `{ runId }` and an inner `{ runId, step }`).
 */
export function withLogContext<T>(logContext: LogContext, fn: () => T): T {
  const active = context.active();
  const outer = active.getValue(LOG_CONTEXT) as LogContext | undefined;
  const next = active.setValue(
    LOG_CONTEXT,
    outer ? { ...outer, ...logContext } : { ...logContext },
  );
  return context.with(next, () => {
    if (context.active() === next) return fn();
    // No context manager that keeps context (telemetry off, or not started: tests, tools).
    propagateContext();
    return context.with(next, fn);
  });
}

/** The active log context, if any. */
export function currentLogContext(): LogContext | undefined {
  return context.active().getValue(LOG_CONTEXT) as LogContext | undefined;
}

/**
 * Registers the context manager telemetry would have. If another one is
 * registered already, the API refuses a second and the log context stays
 * where that manager keeps it.
 */
function propagateContext(): void {
  context.setGlobalContextManager(new AsyncLocalStorageContextManager().enable());
}
