import { randomUUID } from 'node:crypto';
import pino from 'pino';
import type { Pool } from 'pg';
import { streamIds, uuidv7, type DeliveryEvent } from '@keel/contracts';
import { appendToStream, readStream, type RecordedEvent } from '@keel/event-store';
import { RetryableError, TerminalError, type InboundMessage } from '@keel/messaging';
import { newEventMetadata, relayedPayload, type FastPublisher } from '@keel/runtime';
import { migratedTestSchema, type TestSchema } from '@keel/testing';
import type { AttemptOutcome, DeliveryRequest } from './delivery-state';
import { deliveryHandler, type DeliveryChannelSender } from './delivery.handler';

const MAX_DELIVER = 50;

/**
 * The delivery handler against real PostgreSQL, with scripted channels: what
 * it records, how each message ends, and how it behaves when another replica
 * writes the stream while an attempt is running.
 */
describe('deliveryHandler (PostgreSQL, scripted channels)', () => {
  let db: TestSchema;
  let pool: Pool;
  const published: RecordedEvent[] = [];
  const publisher = { publish: (r: readonly RecordedEvent[]) => published.push(...r) };

  beforeAll(async () => {
    db = await migratedTestSchema('od');
    pool = db.pool;
  });
  afterAll(() => db.drop());

  const handlerWith = (webhook: DeliveryChannelSender) =>
    deliveryHandler({
      pool,
      log: pino({ level: 'silent' }),
      publisher: publisher as unknown as FastPublisher,
      channels: { webhook, email: () => Promise.reject(new Error('no email here')) },
      retry: { maxAttempts: 3, baseMs: 100, capMs: 1000, maxRetryAfterMs: 10_000 },
      maxDeliver: MAX_DELIVER,
    });

  /** Appends DeliveryRequested and returns the message the relay would publish for it. */
  const requestDelivery = async () => {
    const deliveryId = uuidv7();
    const runId = randomUUID();
    const request: DeliveryRequest = {
      deliveryId,
      runId,
      channel: 'webhook',
      idempotencyKey: `key-${deliveryId}`,
      target: 'http://receiver.test/hooks',
      payload: { n: 1 },
    };
    const { records } = await appendToStream(pool, streamIds.delivery(deliveryId), 0, [
      {
        type: 'DeliveryRequested',
        data: request,
        metadata: newEventMetadata({ runId, tenant: 'acme', producer: 'test' }),
      },
    ]);
    const message = (deliveries = 1): InboundMessage => {
      const data = relayedPayload(records[0]!);
      return {
        subject: `t.evt.delivery._.DeliveryRequested.${runId}`,
        data,
        headers: {},
        streamSequence: 1,
        deliveries,
        text: () => new TextDecoder().decode(data),
        working: () => undefined,
      };
    };
    return { request, message, streamId: streamIds.delivery(deliveryId) };
  };
  const types = async (streamId: string) => (await readStream(pool, streamId)).map((e) => e.type);
  /** Appends as another replica would, at the stream's current version. */
  const appendAsOtherReplica = async (streamId: string, event: DeliveryEvent) => {
    const version = (await readStream(pool, streamId)).length;
    await appendToStream(pool, streamId, version, [
      {
        ...event,
        metadata: newEventMetadata({
          runId: (event.data as { runId: string }).runId,
          tenant: 'acme',
          producer: 'other-replica',
        }),
      },
    ]);
  };
  const ok: AttemptOutcome = { ok: true, receipt: 'HTTP 200' };
  const http503 = { code: 'WEBHOOK_HTTP_503', message: 'HTTP 503', retryable: true };
  const unavailable: AttemptOutcome = { ok: false, error: http503 };

  it('given a success, then it records DeliverySucceeded, publishes it and acks', async () => {
    const { message, streamId, request } = await requestDelivery();
    const calls: number[] = [];
    const handle = handlerWith((r, attempt) => {
      expect(r).toEqual(request);
      calls.push(attempt);
      return Promise.resolve(ok);
    });

    await expect(handle(message())).resolves.toEqual({ kind: 'ack' });

    expect(calls).toEqual([1]);
    const events = await readStream(pool, streamId);
    expect(events.map((e) => e.type)).toEqual(['DeliveryRequested', 'DeliverySucceeded']);
    expect(events[1]).toMatchObject({
      data: { attempts: 1, receipt: 'HTTP 200' },
      metadata: { producer: 'outbox', causationId: events[0]!.metadata.eventId },
    });
    expect(published.map((e) => e.metadata.eventId)).toContain(events[1]!.metadata.eventId);

    // A redelivery finds it finished and does not attempt again.
    await expect(handle(message(2))).resolves.toEqual({ kind: 'ack' });
    expect(calls).toEqual([1]);
  });

  it('given a transient failure, then it records the attempt and asks for a redelivery after its delay; the redelivery makes attempt 2', async () => {
    const { message, streamId } = await requestDelivery();
    const outcomes = [unavailable, ok];
    const calls: number[] = [];
    const handle = handlerWith((_r, attempt) => {
      calls.push(attempt);
      return Promise.resolve(outcomes.shift()!);
    });

    const err: unknown = await handle(message()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(RetryableError);
    const events = await readStream(pool, streamId);
    const failed = events[1]!;
    expect(failed).toMatchObject({ type: 'DeliveryAttemptFailed', data: { attempt: 1 } });
    expect((err as RetryableError).retryAfterMs).toBe(
      (failed.data as { retryInMs: number }).retryInMs,
    );

    await expect(handle(message(2))).resolves.toEqual({ kind: 'ack' });
    expect(calls).toEqual([1, 2]);
    expect(await types(streamId)).toEqual([
      'DeliveryRequested',
      'DeliveryAttemptFailed',
      'DeliverySucceeded',
    ]);
    expect((await readStream(pool, streamId))[2]).toMatchObject({ data: { attempts: 2 } });
  });

  it('given a permanent failure, then it records DeliveryFailed and throws a TerminalError with the code', async () => {
    const { message, streamId } = await requestDelivery();
    const handle = handlerWith(() =>
      Promise.resolve({
        ok: false,
        error: {
          code: 'WEBHOOK_HTTP_400',
          message: 'the receiver answered HTTP 400',
          retryable: false,
        },
      }),
    );
    const err: unknown = await handle(message()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(TerminalError);
    expect(err).toMatchObject({
      code: 'WEBHOOK_HTTP_400',
      message: 'the receiver answered HTTP 400',
    });
    expect(await types(streamId)).toEqual([
      'DeliveryRequested',
      'DeliveryAttemptFailed',
      'DeliveryFailed',
    ]);
  });

  it('given a transient failure on the last allowed delivery, then the delivery fails for good', async () => {
    const { message, streamId } = await requestDelivery();
    const handle = handlerWith(() => Promise.resolve(unavailable));
    const err: unknown = await handle(message(MAX_DELIVER)).catch((e: unknown) => e);
    expect(err).toMatchObject({ code: 'DELIVERY_ATTEMPTS_EXHAUSTED' });
    expect(await types(streamId)).toEqual([
      'DeliveryRequested',
      'DeliveryAttemptFailed',
      'DeliveryFailed',
    ]);
  });

  it('when another replica records a failed attempt meanwhile, then this attempt is recorded on top, not repeated', async () => {
    const { message, streamId, request } = await requestDelivery();
    let calls = 0;
    const handle = handlerWith(async () => {
      calls++;
      await appendAsOtherReplica(streamId, {
        type: 'DeliveryAttemptFailed',
        data: {
          deliveryId: request.deliveryId,
          runId: request.runId,
          attempt: 1,
          error: http503,
          retryInMs: 10,
        },
      });
      return ok;
    });

    await expect(handle(message())).resolves.toEqual({ kind: 'ack' });

    expect(calls).toBe(1);
    const events = await readStream(pool, streamId);
    expect(events.map((e) => e.type)).toEqual([
      'DeliveryRequested',
      'DeliveryAttemptFailed',
      'DeliverySucceeded',
    ]);
    expect(events[2]).toMatchObject({ data: { attempts: 2 }, metadata: { producer: 'outbox' } });
  });

  it('when another replica finishes the delivery meanwhile, then it acks and records nothing', async () => {
    const { message, streamId, request } = await requestDelivery();
    const handle = handlerWith(async () => {
      await appendAsOtherReplica(streamId, {
        type: 'DeliverySucceeded',
        data: { deliveryId: request.deliveryId, runId: request.runId, attempts: 1 },
      });
      return unavailable;
    });

    await expect(handle(message())).resolves.toEqual({ kind: 'ack' });
    expect(await types(streamId)).toEqual(['DeliveryRequested', 'DeliverySucceeded']);
  });

  it('given an event that is not DeliveryRequested, or not valid, then it is dead-lettered', async () => {
    const { message, request } = await requestDelivery();
    const m = message();
    const payload = JSON.parse(m.text()) as Record<string, unknown>;
    const withEvent = (type: string, data: unknown): InboundMessage => {
      const bytes = new TextEncoder().encode(JSON.stringify({ ...payload, type, data }));
      return { ...m, data: bytes, text: () => new TextDecoder().decode(bytes) };
    };
    const handle = handlerWith(() => Promise.resolve(ok));
    const failed = {
      deliveryId: request.deliveryId,
      runId: request.runId,
      attempts: 1,
      error: http503,
    };
    await expect(handle(withEvent('DeliveryFailed', failed))).rejects.toMatchObject({
      name: 'TerminalError',
      code: 'UNEXPECTED_EVENT',
    });
    await expect(handle(withEvent('DeliveryRequested', { nope: true }))).rejects.toMatchObject({
      name: 'TerminalError',
      code: 'SCHEMA_INVALID',
    });
  });
});
