import {
  MAX_RETRY_AFTER_MS,
  classifyHttpFailure,
  connectionError,
  emptyReplyError,
  parseRetryAfterMs,
  timeoutError,
  unexpectedError,
} from './classify-model-error';
import { ModelCallError } from './model-client';

const headers = (h: Record<string, string> = {}) => new Headers(h);
const NOW = Date.parse('2026-01-01T00:00:00Z');

describe('classifyHttpFailure', () => {
  it.each([
    [408, 'MODEL_HTTP_408'],
    [409, 'MODEL_HTTP_409'],
    [429, 'MODEL_HTTP_429'],
    [500, 'MODEL_HTTP_500'],
    [502, 'MODEL_HTTP_502'],
    [503, 'MODEL_HTTP_503'],
    [504, 'MODEL_HTTP_504'],
    [507, 'MODEL_HTTP_507'],
    [529, 'MODEL_OVERLOADED'],
  ])('%i is transient (%s)', (status, code) => {
    const e = classifyHttpFailure({ status, headers: headers() });
    expect(e).toBeInstanceOf(ModelCallError);
    expect(e).toMatchObject({ code, errorClass: 'transient', status, retryAfterMs: undefined });
    expect(e.retryable).toBe(true);
  });

  it.each([400, 401, 403, 404, 413, 422, 451, 301])('%i is permanent', (status) => {
    const e = classifyHttpFailure({ status, headers: headers() });
    expect(e).toMatchObject({ code: `MODEL_HTTP_${status}`, errorClass: 'permanent', status });
    expect(e.retryable).toBe(false);
  });

  it.each([
    ['OpenAI 429 insufficient_quota', { status: 429, errorCode: 'insufficient_quota' }],
    ['OpenAI 429 insufficient_quota (type)', { status: 429, errorType: 'insufficient_quota' }],
    ['any 402', { status: 402 }],
    ['Anthropic billing_error', { status: 400, errorType: 'billing_error' }],
    [
      'a credit-balance message',
      {
        status: 400,
        errorType: 'invalid_request_error',
        message: 'Your credit balance is too low to access the Anthropic API.',
      },
    ],
  ])('%s is quota', (_name, failure) => {
    const e = classifyHttpFailure({ headers: headers({ 'retry-after': '5' }), ...failure });
    expect(e).toMatchObject({
      code: 'MODEL_QUOTA',
      errorClass: 'quota',
      status: failure.status,
      retryAfterMs: undefined,
    });
    expect(e.retryable).toBe(false);
  });

  it('a plain rate limit is not quota; a 5xx mentioning quota is still transient', () => {
    expect(
      classifyHttpFailure({ status: 429, errorType: 'requests', errorCode: 'rate_limit_exceeded' })
        .errorClass,
    ).toBe('transient');
    expect(
      classifyHttpFailure({ status: 503, errorCode: 'insufficient_quota', message: 'quota' })
        .errorClass,
    ).toBe('transient');
  });

  it('never copies the provider message into its own (only status and codes)', () => {
    const secret = 'prompt text sk-live-123 "completion"';
    for (const status of [400, 402, 429, 500, 529]) {
      const e = classifyHttpFailure({
        status,
        errorType: 'rate_limit_error',
        errorCode: 'weird code with spaces and sk-live-123',
        message: secret,
      });
      expect(e.message).not.toContain('sk-live');
      expect(e.message).not.toContain('prompt');
      expect(e.message).toContain(String(status));
    }
    expect(classifyHttpFailure({ status: 429, errorType: 'rate_limit_error' }).message).toBe(
      'model provider answered 429 (rate_limit_error)',
    );
  });

  it('keeps the SDK error as the cause', () => {
    const cause = new Error('sdk');
    expect(classifyHttpFailure({ status: 500, cause }).cause).toBe(cause);
  });
});

describe('Retry-After', () => {
  const retryAfter = (h: Record<string, string>, status = 429) =>
    classifyHttpFailure({ status, headers: headers(h) }, NOW).retryAfterMs;

  it('reads retry-after seconds, and retry-after-ms before it', () => {
    expect(retryAfter({ 'retry-after': '3' })).toBe(3000);
    expect(retryAfter({ 'retry-after': '1.5' })).toBe(1500);
    expect(retryAfter({ 'retry-after-ms': '250', 'retry-after': '3' })).toBe(250);
    expect(retryAfter({ 'retry-after-ms': 'soon', 'retry-after': '3' })).toBe(3000);
    expect(retryAfter({ 'retry-after': '2' }, 503)).toBe(2000);
    expect(retryAfter({ 'retry-after': '2' }, 529)).toBe(2000);
  });

  it('reads an HTTP date', () => {
    expect(retryAfter({ 'retry-after': new Date(NOW + 7000).toUTCString() })).toBe(7000);
    expect(retryAfter({ 'retry-after': new Date(NOW - 7000).toUTCString() })).toBeUndefined();
  });

  it('ignores missing, zero, negative and junk values', () => {
    expect(retryAfter({})).toBeUndefined();
    expect(retryAfter({ 'retry-after': '0' })).toBeUndefined();
    expect(retryAfter({ 'retry-after': '-5' })).toBeUndefined();
    expect(retryAfter({ 'retry-after': 'later' })).toBeUndefined();
    expect(classifyHttpFailure({ status: 429 }).retryAfterMs).toBeUndefined();
  });

  it('caps long waits at 10 minutes', () => {
    expect(MAX_RETRY_AFTER_MS).toBe(600_000);
    expect(retryAfter({ 'retry-after': '86400' })).toBe(MAX_RETRY_AFTER_MS);
    expect(retryAfter({ 'retry-after-ms': '9999999999' })).toBe(MAX_RETRY_AFTER_MS);
    expect(
      parseRetryAfterMs(headers({ 'retry-after': 'Fri, 31 Dec 2100 23:59:59 GMT' }), NOW),
    ).toBe(MAX_RETRY_AFTER_MS);
  });

  it('is not attached to permanent or quota failures', () => {
    expect(retryAfter({ 'retry-after': '3' }, 400)).toBeUndefined();
    expect(retryAfter({ 'retry-after': '3' }, 402)).toBeUndefined();
  });
});

describe('transport failures', () => {
  it('timeouts, connection failures and empty replies are transient', () => {
    expect(timeoutError()).toMatchObject({ code: 'MODEL_TIMEOUT', errorClass: 'transient' });
    expect(connectionError()).toMatchObject({ code: 'MODEL_CONNECTION', errorClass: 'transient' });
    expect(emptyReplyError()).toMatchObject({
      code: 'MODEL_EMPTY_REPLY',
      errorClass: 'transient',
    });
  });

  it('an unparseable body keeps neither its text nor the parse error', () => {
    let parseError: unknown;
    try {
      JSON.parse('{"choices": [ the completion text');
    } catch (err) {
      parseError = err;
    }
    const e = unexpectedError(parseError);
    expect(e).toMatchObject({ code: 'MODEL_BAD_REPLY', errorClass: 'transient' });
    expect(e.message).not.toContain('completion');
    expect(e.cause).toBeUndefined();
  });

  it('an unexpected error is named, not quoted; a ModelCallError passes through', () => {
    const e = unexpectedError(new TypeError('secret detail'));
    expect(e).toMatchObject({ code: 'MODEL_ERROR', message: 'model call failed (TypeError)' });
    const own = timeoutError();
    expect(unexpectedError(own)).toBe(own);
  });
});
