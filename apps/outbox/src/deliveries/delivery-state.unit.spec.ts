import type { DeliveryEvent } from '@keel/contracts';
import type { RetryPolicy } from '@keel/resilience';
import {
  ATTEMPTS_EXHAUSTED,
  decideAttempt,
  deliveryAggregate,
  evolveDelivery,
  type DeliveryRequest,
  type DeliveryState,
  type PendingDelivery,
} from './delivery-state';

const request: DeliveryRequest = {
  deliveryId: '0190f5a4-0000-7000-8000-000000000001',
  runId: '0190f5a4-0000-7000-8000-0000000000aa',
  channel: 'webhook',
  idempotencyKey: 'run-1:step-2',
  target: 'http://receiver.test/hooks',
  payload: { hello: 'world' },
};
const ids = { deliveryId: request.deliveryId, runId: request.runId };
const policy: RetryPolicy = { maxAttempts: 3, baseMs: 100, capMs: 1000, maxRetryAfterMs: 5000 };
const transient = { code: 'WEBHOOK_HTTP_503', message: 'HTTP 503', retryable: true };
const permanent = { code: 'WEBHOOK_HTTP_400', message: 'HTTP 400', retryable: false };

const fold = (events: DeliveryEvent[]): DeliveryState =>
  events.reduce(evolveDelivery, deliveryAggregate.initial());
const pending = (failedAttempts: number): PendingDelivery => {
  const events: DeliveryEvent[] = [{ type: 'DeliveryRequested', data: request }];
  for (let i = 1; i <= failedAttempts; i++)
    events.push({
      type: 'DeliveryAttemptFailed',
      data: { ...ids, attempt: i, error: transient, retryInMs: 10 },
    });
  const s = fold(events);
  if (s.status !== 'pending') throw new Error('expected pending');
  return s;
};

describe('delivery state', () => {
  it('given no events, then there is no delivery', () => {
    expect(fold([])).toEqual({ status: 'none' });
  });

  it('given a request and failed attempts, then it is pending with the attempts counted', () => {
    const s = pending(2);
    expect(s).toMatchObject({ status: 'pending', attempts: 2, lastError: transient, request });
  });

  it('given a success, then it is succeeded with the receipt and the attempts', () => {
    const s = fold([
      { type: 'DeliveryRequested', data: request },
      {
        type: 'DeliveryAttemptFailed',
        data: { ...ids, attempt: 1, error: transient, retryInMs: 5 },
      },
      { type: 'DeliverySucceeded', data: { ...ids, attempts: 2, receipt: 'HTTP 200' } },
    ]);
    expect(s).toMatchObject({ status: 'succeeded', attempts: 2, receipt: 'HTTP 200' });
  });

  it('given a failure, then it is failed with the error; later events change nothing', () => {
    const s = fold([
      { type: 'DeliveryRequested', data: request },
      { type: 'DeliveryFailed', data: { ...ids, attempts: 1, error: permanent } },
      { type: 'DeliverySucceeded', data: { ...ids, attempts: 2 } },
      { type: 'DeliveryRequested', data: { ...request, target: 'http://elsewhere' } },
    ]);
    expect(s).toMatchObject({ status: 'failed', attempts: 1, error: permanent, request });
  });
});

describe('decideAttempt', () => {
  it('when the first attempt succeeds, then it records DeliverySucceeded with attempts 1', () => {
    const v = decideAttempt(pending(0), { ok: true, receipt: 'HTTP 200' }, policy);
    expect(v).toEqual({
      kind: 'succeeded',
      events: [{ type: 'DeliverySucceeded', data: { ...ids, attempts: 1, receipt: 'HTTP 200' } }],
    });
  });

  it('when a transient failure has attempts left, then it records the attempt with its backoff', () => {
    const v = decideAttempt(pending(1), { ok: false, error: transient }, policy, {
      random: () => 0.5,
    });
    // attempt 2: ceiling min(1000, 100 * 2) = 200, half of it.
    expect(v).toEqual({
      kind: 'retry',
      retryInMs: 100,
      events: [
        {
          type: 'DeliveryAttemptFailed',
          data: { ...ids, attempt: 2, error: transient, retryInMs: 100 },
        },
      ],
    });
  });

  it('when the receiver asks for a Retry-After, then that is the delay', () => {
    const v = decideAttempt(
      pending(0),
      { ok: false, error: transient, retryAfterMs: 2000 },
      policy,
    );
    expect(v).toMatchObject({ kind: 'retry', retryInMs: 2000 });
  });

  it('when the Retry-After is longer than the policy accepts, then the delivery fails', () => {
    const v = decideAttempt(
      pending(0),
      { ok: false, error: transient, retryAfterMs: 60_000 },
      policy,
    );
    expect(v.kind).toBe('failed');
    expect(v.events.map((e) => e.type)).toEqual(['DeliveryAttemptFailed', 'DeliveryFailed']);
  });

  it('when a failure is permanent, then it records the attempt (no retry) and DeliveryFailed with its error', () => {
    const v = decideAttempt(pending(0), { ok: false, error: permanent }, policy);
    expect(v).toEqual({
      kind: 'failed',
      error: permanent,
      events: [
        {
          type: 'DeliveryAttemptFailed',
          data: { ...ids, attempt: 1, error: permanent, retryInMs: null },
        },
        { type: 'DeliveryFailed', data: { ...ids, attempts: 1, error: permanent } },
      ],
    });
  });

  it('when the last attempt fails transiently, then the delivery fails as exhausted, naming the last error', () => {
    const v = decideAttempt(pending(2), { ok: false, error: transient }, policy);
    expect(v.kind).toBe('failed');
    if (v.kind !== 'failed') return;
    expect(v.error.code).toBe(ATTEMPTS_EXHAUSTED);
    expect(v.error.retryable).toBe(false);
    expect(v.error.message).toContain('gave up after 3 of 3 attempts');
    expect(v.error.message).toContain('WEBHOOK_HTTP_503');
    expect(v.events[0]).toMatchObject({ data: { attempt: 3, retryInMs: null } });
    expect(v.events[1]).toMatchObject({ type: 'DeliveryFailed', data: { attempts: 3 } });
  });

  it('when a transient failure happens on the message’s last allowed delivery, then the delivery fails', () => {
    const v = decideAttempt(pending(0), { ok: false, error: transient }, policy, {
      lastDelivery: true,
    });
    expect(v.kind).toBe('failed');
    if (v.kind === 'failed') expect(v.error.code).toBe(ATTEMPTS_EXHAUSTED);
  });

  it('keeps what it records within the event schema’s limits', () => {
    const long = { code: 'X'.repeat(100), message: 'm'.repeat(5000), retryable: false };
    const v = decideAttempt(pending(0), { ok: false, error: long }, policy);
    if (v.kind !== 'failed') throw new Error('expected failed');
    expect(v.error.code).toHaveLength(64);
    expect(v.error.message).toHaveLength(2000);
    const ok = decideAttempt(pending(0), { ok: true, receipt: 'r'.repeat(900) }, policy);
    expect(ok.events[0]).toMatchObject({ data: { receipt: 'r'.repeat(500) } });
  });
});
