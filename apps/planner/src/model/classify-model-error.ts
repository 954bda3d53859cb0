import { ModelCallError } from './model-client';

/**
 * One classification of failed model calls for every provider adapter. Pure:
 * the adapters pull the status, headers and provider error fields out of their
 * SDK's errors and hand them here.
 *
 * Messages carry statuses and codes only, never provider message text: that can
 * echo prompt or completion content, and these errors end up in logs, events and
 * span statuses.
 */

/** The part of `Headers` the classification reads (lower-case names work with `Headers`). */
export interface HeaderLookup {
  get(name: string): string | null | undefined;
}

export interface HttpFailure {
  readonly status: number;
  readonly headers?: HeaderLookup | undefined;
  /** The provider's error type: OpenAI `error.type`, Anthropic `error.type` (`billing_error` ...). */
  readonly errorType?: string | undefined;
  /** The provider's error code: OpenAI `error.code` (`insufficient_quota` ...), Anthropic `details.error_code`. */
  readonly errorCode?: string | undefined;
  /** The provider's error message: read for quota wording only, never copied into the result. */
  readonly message?: string | undefined;
  /** The SDK's error, kept as the result's `cause`. */
  readonly cause?: unknown;
}

/** A provider asking for a longer pause than this is capped: the run's retry policy decides beyond it. */
export const MAX_RETRY_AFTER_MS = 10 * 60 * 1000;

const QUOTA_CODES = new Set(['insufficient_quota', 'billing_error', 'billing_hard_limit_reached']);
const QUOTA_WORDING = /credit balance|insufficient[_ ]quota|exceeded your current quota/i;
const TRANSIENT_4XX = new Set([408, 409, 429]);

export function classifyHttpFailure(
  failure: HttpFailure,
  now: number = Date.now(),
): ModelCallError {
  const { status, cause } = failure;
  const detail = describe(failure);
  if (isQuota(failure)) {
    return new ModelCallError(
      'MODEL_QUOTA',
      `model provider quota or billing exhausted (HTTP ${status}${detail})`,
      'quota',
      { status, cause },
    );
  }
  if (TRANSIENT_4XX.has(status) || status >= 500) {
    const retryAfterMs = failure.headers ? parseRetryAfterMs(failure.headers, now) : undefined;
    return new ModelCallError(
      status === 529 ? 'MODEL_OVERLOADED' : `MODEL_HTTP_${status}`,
      `model provider answered ${status}${detail}`,
      'transient',
      { status, cause, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) },
    );
  }
  // 400/401/403/404/422, any other 4xx, and statuses that should never reach here (3xx).
  return new ModelCallError(
    `MODEL_HTTP_${status}`,
    `model provider answered ${status}${detail}`,
    'permanent',
    { status, cause },
  );
}

function isQuota({ status, errorType, errorCode, message }: HttpFailure): boolean {
  if (status === 402) return true;
  if (status >= 500) return false;
  if ((errorType && QUOTA_CODES.has(errorType)) || (errorCode && QUOTA_CODES.has(errorCode)))
    return true;
  return message !== undefined && QUOTA_WORDING.test(message);
}

/** ` (type/code)` when the provider sent identifier-like values; anything else is left out. */
function describe({ errorType, errorCode }: HttpFailure): string {
  const ids = [errorType, errorCode].filter(
    (v, i, all): v is string =>
      typeof v === 'string' && /^[A-Za-z0-9_.-]{1,64}$/.test(v) && all.indexOf(v) === i,
  );
  return ids.length > 0 ? ` (${ids.join('/')})` : '';
}

/**
 * How long the provider asks us to wait: `retry-after-ms` (milliseconds, OpenAI
 * and Anthropic send it), else `retry-after` as seconds or an HTTP date. Capped
 * at `MAX_RETRY_AFTER_MS`; missing, unparseable, zero or past values give `undefined`.
 */
export function parseRetryAfterMs(
  headers: HeaderLookup,
  now: number = Date.now(),
): number | undefined {
  const ms = headers.get('retry-after-ms');
  if (ms && /^\s*\d+(\.\d+)?\s*$/.test(ms)) return cap(Number(ms));
  const value = headers.get('retry-after')?.trim();
  if (!value) return undefined;
  if (/^\d+(\.\d+)?$/.test(value)) return cap(Number(value) * 1000);
  const date = Date.parse(value);
  return Number.isNaN(date) ? undefined : cap(date - now);
}

function cap(ms: number): number | undefined {
  if (!Number.isFinite(ms) || ms <= 0) return undefined;
  return Math.min(Math.ceil(ms), MAX_RETRY_AFTER_MS);
}

/** The call ran past its timeout (the SDK aborted it). */
export function timeoutError(cause?: unknown): ModelCallError {
  return new ModelCallError('MODEL_TIMEOUT', 'model call timed out', 'transient', { cause });
}

/** No HTTP answer: refused, reset or dropped connection, DNS or TLS failure. */
export function connectionError(cause?: unknown): ModelCallError {
  return new ModelCallError(
    'MODEL_CONNECTION',
    'could not reach the model provider (connection failed)',
    'transient',
    { cause },
  );
}

/** The caller's signal aborted the call (shutdown, lease lost): not the provider's fault. */
export function abortedError(cause?: unknown): ModelCallError {
  return new ModelCallError('MODEL_ABORTED', 'model call aborted by the caller', 'transient', {
    cause,
  });
}

/** A 2xx answer without anything to act on (no choices / no content blocks). */
export function emptyReplyError(): ModelCallError {
  return new ModelCallError('MODEL_EMPTY_REPLY', 'model returned an empty reply', 'transient');
}

/**
 * Anything else: an unparseable 2xx body (`MODEL_BAD_REPLY`) or an unexpected
 * error. Only the error's class name is kept in the message. A JSON parse error
 * is not kept even as the cause: its message quotes the body (completion text),
 * and log serializers print the messages of the whole cause chain.
 */
export function unexpectedError(err: unknown): ModelCallError {
  if (err instanceof ModelCallError) return err;
  // By name: the parse error can come from another realm (Node's fetch internals under jest).
  if (err instanceof SyntaxError || (err as { name?: unknown } | null)?.name === 'SyntaxError') {
    return badReplyError('not valid JSON');
  }
  const raw: unknown = (err as { name?: unknown } | null)?.name;
  const name = typeof raw === 'string' && /^[A-Za-z0-9_]{1,64}$/.test(raw) ? raw : typeof err;
  return new ModelCallError('MODEL_ERROR', `model call failed (${name})`, 'transient', {
    cause: err,
  });
}

/** A 2xx answer that is not what the protocol promises (not JSON, or the wrong shape). */
export function badReplyError(what: 'not valid JSON' | 'not a chat completion'): ModelCallError {
  return new ModelCallError(
    'MODEL_BAD_REPLY',
    `model provider sent a reply that is ${what}`,
    'transient',
  );
}
