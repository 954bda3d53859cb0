import { ErrorCode, NatsError } from 'nats';

let installed = false;

/**
 * nats.js (2.x) builds an Error on every successful request — `RequestOne`
 * resolves, then cancels itself with `NatsError.errorForCode(Cancelled)`,
 * rejecting a promise already settled, so nobody ever sees it — and every
 * pull `fetch` builds its Timeout error up front. Capturing their stack
 * traces cost 2 % of the planner's CPU and 10 % of the relay's (JetStream
 * publishes are requests). From here on those two errors are built without
 * a stack trace; their class, code and message are unchanged. Process-wide
 * and idempotent.
 */
export function cheapenNatsErrors(): void {
  if (installed) return;
  installed = true;
  const original = NatsError.errorForCode.bind(NatsError);
  NatsError.errorForCode = (code: string, chainedError?: Error): NatsError => {
    if (code !== (ErrorCode.Cancelled as string) && code !== (ErrorCode.Timeout as string))
      return original(code, chainedError);
    const limit = Error.stackTraceLimit;
    Error.stackTraceLimit = 0;
    try {
      return original(code, chainedError);
    } finally {
      Error.stackTraceLimit = limit;
    }
  };
}
