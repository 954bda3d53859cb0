/**
 * Errors raised by (or understood by) the messaging library. Every error has a
 * stable `name` and a stable string `code` that callers may branch on; the
 * message is for humans and may change.
 */

/**
 * Thrown by a handler when retrying cannot help (poison message, invalid
 * input, a business rule that will never pass). The consumer dead-letters the
 * message with this `code` and terminates it: it is never redelivered.
 */
export class TerminalError extends Error {
  override name = 'TerminalError';
  constructor(
    readonly code: string,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

/**
 * Thrown by a handler for a transient failure (a dependency is down, a lock is
 * held). The consumer naks the message so JetStream redelivers it, after
 * `retryAfterMs` if given, otherwise after an exponential backoff with jitter.
 * On the consumer's last allowed delivery it is dead-lettered instead. Any
 * error that is not a `TerminalError` is treated the same way.
 */
export class RetryableError extends Error {
  override name = 'RetryableError';
  readonly code = 'RETRYABLE';
  /** Redeliver after this long instead of the computed backoff. */
  readonly retryAfterMs: number | undefined;
  constructor(message: string, options?: { retryAfterMs?: number; cause?: unknown }) {
    super(message, options?.cause !== undefined ? { cause: options.cause } : undefined);
    this.retryAfterMs = options?.retryAfterMs;
  }
}

export const TopologyErrorCode = {
  /** The stream or consumer exists with a config that cannot be updated in place (e.g. retention). */
  CONFLICT: 'TOPOLOGY_CONFLICT',
  /** The JetStream API call failed for another reason (no JetStream, timeout, permissions). */
  FAILED: 'TOPOLOGY_FAILED',
} as const;
export type TopologyErrorCode = (typeof TopologyErrorCode)[keyof typeof TopologyErrorCode];

/** Declaring a stream or consumer failed; start-up should fail loudly. */
export class TopologyError extends Error {
  override name = 'TopologyError';
  constructor(
    readonly code: TopologyErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export const PublishErrorCode = {
  /** No stream captures the subject (JetStream answered 503 / no responders). */
  NO_STREAM: 'NO_STREAM',
  /** No PubAck within the timeout: the message may or may not be stored; retry with the same msgId. */
  TIMEOUT: 'PUBLISH_TIMEOUT',
  /** An `expect` constraint (last sequence, last msg id, stream name) did not hold. */
  EXPECTATION_FAILED: 'EXPECTATION_FAILED',
  /** The payload is not serialisable to JSON. */
  NOT_SERIALISABLE: 'NOT_SERIALISABLE',
  PUBLISH_FAILED: 'PUBLISH_FAILED',
} as const;
export type PublishErrorCode = (typeof PublishErrorCode)[keyof typeof PublishErrorCode];

export class PublishError extends Error {
  override name = 'PublishError';
  constructor(
    readonly code: PublishErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
  }
}

export const RequestErrorCode = {
  /** Nobody is subscribed to the subject. */
  NO_RESPONDERS: 'NO_RESPONDERS',
  /** No reply within the timeout: the request may or may not have been processed. */
  TIMEOUT: 'REQUEST_TIMEOUT',
  /** The reply is not JSON or does not match the reply schema. */
  INVALID_REPLY: 'INVALID_REPLY',
  /** The server answered `{status:'error', code, message}` and the reply schema does not model it; see `remoteCode`. */
  REMOTE_ERROR: 'REMOTE_ERROR',
  REQUEST_FAILED: 'REQUEST_FAILED',
} as const;
export type RequestErrorCode = (typeof RequestErrorCode)[keyof typeof RequestErrorCode];

export class RequestError extends Error {
  override name = 'RequestError';
  constructor(
    readonly code: RequestErrorCode,
    message: string,
    options?: { cause?: unknown; remoteCode?: string },
  ) {
    super(message, options);
    this.remoteCode = options?.remoteCode;
  }
  /** For `REMOTE_ERROR`: the `code` the server replied with. */
  readonly remoteCode: string | undefined;
}

/** A short, log-safe description of any thrown value (never includes payloads we did not put there). */
export function describeError(err: unknown): { name: string; code?: string; message: string } {
  if (err instanceof Error) {
    const code = (err as { code?: unknown }).code;
    return { name: err.name, ...(typeof code === 'string' ? { code } : {}), message: err.message };
  }
  return { name: typeof err, message: String(err) };
}
