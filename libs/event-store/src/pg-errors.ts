/** Helpers to classify errors from `pg` (server errors carry a SQLSTATE `code`). */

export interface PgErrorFields {
  code?: string;
  constraint?: string;
  detail?: string;
}

export function pgErrorFields(err: unknown): PgErrorFields {
  if (typeof err !== 'object' || err === null) return {};
  const e = err as Record<string, unknown>;
  const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
  return { code: str(e.code), constraint: str(e.constraint), detail: str(e.detail) };
}

/** Serialization failure or deadlock: the whole transaction may simply be run again. */
export function isSerializationFailure(err: unknown): boolean {
  const { code } = pgErrorFields(err);
  return code === '40001' || code === '40P01';
}

const NETWORK_CODES = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
]);
/** admin_shutdown, crash_shutdown, cannot_connect_now, too_many_connections. */
const SERVER_CODES = new Set(['57P01', '57P02', '57P03', '53300']);
/** What pg throws, without a code, when the socket closes under it. */
const CONNECTION_MESSAGES = [
  /^Connection terminated/,
  /timeout exceeded when trying to connect/,
  /Client has encountered a connection error/,
];

/**
 * True for errors that mean "PostgreSQL is (temporarily) unreachable": the
 * caller should back off, reconnect and retry the whole unit of work. Also true
 * for serialization failures and deadlocks. Looks through `cause` chains
 * (errors this library wraps keep the driver error as `cause`).
 */
export function isRetryablePgError(err: unknown): boolean {
  return retryable(err, 0);
}

function retryable(err: unknown, depth: number): boolean {
  if (typeof err !== 'object' || err === null || depth > 5) return false;
  const { code } = pgErrorFields(err);
  if (code !== undefined) {
    if (NETWORK_CODES.has(code) || SERVER_CODES.has(code) || code.startsWith('08')) return true;
    if (isSerializationFailure(err)) return true;
  }
  const message = err instanceof Error ? err.message : '';
  if (CONNECTION_MESSAGES.some((re) => re.test(message))) return true;
  if (err instanceof AggregateError && err.errors.some((e) => retryable(e, depth + 1))) {
    return true;
  }
  return retryable((err as { cause?: unknown }).cause, depth + 1);
}
