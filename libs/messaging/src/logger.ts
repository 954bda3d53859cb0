/**
 * The logging surface this library needs: structured object first, message
 * second. A pino `Logger` satisfies it. The library never logs payloads, only
 * subjects, sequences, codes and error descriptions.
 */
export type LogFn = (obj: Record<string, unknown>, msg: string) => void;

export interface MessagingLogger {
  debug: LogFn;
  info: LogFn;
  warn: LogFn;
  error: LogFn;
}
