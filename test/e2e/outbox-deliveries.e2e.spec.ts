import { randomBytes, randomUUID } from 'node:crypto';
import { streamIds, uuidv7, type DeliveryChannel } from '@keel/contracts';
import { appendToStream, readStream, type RecordedEvent } from '@keel/event-store';
import { newEventMetadata } from '@keel/runtime';
import {
  startSmtpReceiver,
  startWebhookReceiver,
  waitFor,
  type SmtpFault,
  type SmtpReceiver,
  type WebhookFault,
  type WebhookReceiver,
} from '@keel/testing';
import { deadLettersOf, startStack, type KeelStack } from '../support/stack';

jest.setTimeout(240_000);

const SECRET = `e2e-${randomBytes(16).toString('hex')}`;
const FINAL = new Set(['DeliverySucceeded', 'DeliveryFailed']);

/**
 * The outbox performs deliveries (webhooks, email) that a tool requested with
 * `DeliveryRequested`: appended here directly, as the tool executor does, and
 * published by the relay. A real webhook receiver (signature check,
 * idempotent by key) and a real SMTP server stand in for the outside world.
 */
describe('outbox deliveries (webhook, email) end to end', () => {
  let stack: KeelStack;
  let hooks: WebhookReceiver;
  let smtp: SmtpReceiver;
  const webhookFaults = new Map<string, (attempt: number) => WebhookFault | undefined>();
  const smtpFaults = new Map<string, (attempt: number) => SmtpFault | undefined>();

  beforeAll(async () => {
    hooks = await startWebhookReceiver({
      secret: SECRET,
      script: (attempt, req) => webhookFaults.get(req.key)?.(attempt),
    });
    smtp = await startSmtpReceiver({
      script: (attempt, email) => (email.key ? smtpFaults.get(email.key)?.(attempt) : undefined),
    });
    stack = await startStack({
      services: ['outbox'],
      env: {
        KEEL_WEBHOOK_SECRET: SECRET,
        KEEL_SMTP_URL: smtp.url,
        KEEL_EMAIL_FROM: 'keel@e2e.test',
        KEEL_DELIVERY_TIMEOUT_MS: '2000',
        KEEL_DELIVERY_RETRY_BASE_MS: '200',
        KEEL_DELIVERY_RETRY_CAP_MS: '1000',
      },
    });
  });
  afterAll(async () => {
    await stack?.stop();
    await hooks?.close();
    await smtp?.close();
  });

  /** Appends `DeliveryRequested` (version 1 of `delivery:<id>`), as a tool would. */
  const request = async (
    channel: DeliveryChannel,
    target: string,
    payload: Record<string, unknown>,
    idempotencyKey = `key-${randomUUID()}`,
  ) => {
    const deliveryId = uuidv7();
    const runId = randomUUID();
    await appendToStream(stack.pool, streamIds.delivery(deliveryId), 0, [
      {
        type: 'DeliveryRequested',
        data: { deliveryId, runId, channel, idempotencyKey, target, payload },
        metadata: newEventMetadata({ runId, tenant: 'acme', producer: 'e2e-test' }),
      },
    ]);
    return { deliveryId, runId, idempotencyKey };
  };
  /** The delivery's events once it is finished. */
  const finished = (deliveryId: string, timeoutMs = 30_000) =>
    waitFor(
      async () => {
        const events = await readStream(stack.pool, streamIds.delivery(deliveryId));
        return events.some((e) => FINAL.has(e.type)) ? events : undefined;
      },
      { timeoutMs, description: `delivery ${deliveryId} to finish` },
    );
  const types = (events: RecordedEvent[]) => events.map((e) => e.type);

  it('delivers a webhook once, signed, and records DeliverySucceeded', async () => {
    const payload = { order: 42, items: ['a', 'b'], note: 'ünïcödé' };
    const { deliveryId, idempotencyKey } = await request('webhook', hooks.url, payload);

    const events = await finished(deliveryId);

    expect(types(events)).toEqual(['DeliveryRequested', 'DeliverySucceeded']);
    expect(events[1]).toMatchObject({
      data: { deliveryId, attempts: 1, receipt: 'HTTP 200' },
      metadata: { producer: 'outbox', causationId: events[0]!.metadata.eventId },
    });
    const got = hooks.attemptsFor(idempotencyKey);
    expect(got).toHaveLength(1);
    expect(got[0]).toMatchObject({ signatureValid: true, handling: 'processed', deliveryId });
    expect(JSON.parse(got[0]!.body)).toEqual(payload);
    expect(hooks.processedByKey.get(idempotencyKey)).toBe(1);
  });

  it('retries a receiver that fails twice (503, then 503 with Retry-After) with the same key, then succeeds', async () => {
    const key = `flaky-${randomUUID()}`;
    webhookFaults.set(key, (n) =>
      n === 1 ? { status: 503 } : n === 2 ? { status: 503, retryAfterSeconds: 1 } : undefined,
    );
    const { deliveryId } = await request('webhook', hooks.url, { flaky: true }, key);

    const events = await finished(deliveryId);

    expect(types(events)).toEqual([
      'DeliveryRequested',
      'DeliveryAttemptFailed',
      'DeliveryAttemptFailed',
      'DeliverySucceeded',
    ]);
    const [, first, second, done] = events;
    expect(first).toMatchObject({
      data: { attempt: 1, error: { code: 'WEBHOOK_HTTP_503', retryable: true } },
    });
    expect(first!.data).toHaveProperty('retryInMs', expect.any(Number));
    expect(second).toMatchObject({ data: { attempt: 2, retryInMs: 1000 } });
    expect(done).toMatchObject({ data: { attempts: 3, receipt: 'HTTP 200' } });
    // The redelivery honoured the delay: the third attempt came at least a second after the second.
    const got = hooks.attemptsFor(key);
    expect(got.map((a) => a.status)).toEqual([503, 503, 200]);
    expect(got.map((a) => a.senderAttempt)).toEqual([1, 2, 3]);
    expect(new Set(got.map((a) => a.key))).toEqual(new Set([key]));
    expect(got.every((a) => a.signatureValid)).toBe(true);
    expect(got[2]!.receivedAt - got[1]!.receivedAt).toBeGreaterThanOrEqual(950);
    expect(hooks.processedByKey.get(key)).toBe(1);
  });

  it('records a permanent 400 as DeliveryFailed and dead-letters the request with the reason', async () => {
    const key = `refused-${randomUUID()}`;
    webhookFaults.set(key, () => ({ status: 400 }));
    const { deliveryId } = await request('webhook', hooks.url, { bad: true }, key);

    const events = await finished(deliveryId);

    expect(types(events)).toEqual(['DeliveryRequested', 'DeliveryAttemptFailed', 'DeliveryFailed']);
    expect(events[1]).toMatchObject({ data: { attempt: 1, retryInMs: null } });
    expect(events[2]).toMatchObject({
      data: { attempts: 1, error: { code: 'WEBHOOK_HTTP_400', retryable: false } },
    });
    const letters = await waitFor(
      async () => {
        const found = await deadLettersOf(stack, stack.names.consumers.outboxDeliveries);
        return found.find((l) => l.runId === events[0]!.metadata.correlationId);
      },
      { timeoutMs: 10_000, description: 'the dead letter of the refused delivery' },
    );
    expect(letters).toMatchObject({ code: 'WEBHOOK_HTTP_400', deliveries: 1 });
    expect(letters.reason).toContain('HTTP 400');
    expect(hooks.attemptsFor(key)).toHaveLength(1);
  });

  it('delivers an email with the key header; a 451 is retried, a 550 fails the delivery', async () => {
    const ok = await request('email', 'ops@example.test', {
      subject: 'Weekly report',
      text: 'All good.\nSee you.',
    });
    const tempKey = `email-451-${randomUUID()}`;
    smtpFaults.set(tempKey, (n) => (n === 1 ? { code: 451, message: 'Greylisted' } : undefined));
    const temp = await request('email', 'ops@example.test', { subject: 'S', text: 'T' }, tempKey);
    const refusedKey = `email-550-${randomUUID()}`;
    smtpFaults.set(refusedKey, () => ({ code: 550, message: 'No such user' }));
    const refused = await request(
      'email',
      'nobody@example.test',
      { subject: 'S', text: 'T' },
      refusedKey,
    );

    const okEvents = await finished(ok.deliveryId);
    expect(types(okEvents)).toEqual(['DeliveryRequested', 'DeliverySucceeded']);
    expect(okEvents[1]).toMatchObject({ data: { attempts: 1 } });
    expect((okEvents[1]!.data as { receipt?: string }).receipt).toMatch(/^250 /);
    const mail = await smtp.waitForKey(ok.idempotencyKey);
    expect(mail).toMatchObject({
      mailFrom: 'keel@e2e.test',
      rcptTo: ['ops@example.test'],
      subject: 'Weekly report',
      text: 'All good.\nSee you.',
    });
    expect(mail.headers['x-keel-idempotency-key']).toBe(ok.idempotencyKey);
    expect(smtp.acceptedByKey.get(ok.idempotencyKey)).toBe(1);

    expect(types(await finished(temp.deliveryId))).toEqual([
      'DeliveryRequested',
      'DeliveryAttemptFailed',
      'DeliverySucceeded',
    ]);
    expect(smtp.messages.filter((m) => m.key === tempKey).map((m) => m.replyCode)).toEqual([
      451, 250,
    ]);

    const refusedEvents = await finished(refused.deliveryId);
    expect(types(refusedEvents)).toEqual([
      'DeliveryRequested',
      'DeliveryAttemptFailed',
      'DeliveryFailed',
    ]);
    expect(refusedEvents[2]).toMatchObject({ data: { error: { code: 'EMAIL_SMTP_550' } } });
  });

  it('kill -9 of the outbox in the middle of 30 webhook deliveries: every key is processed exactly once', async () => {
    const COUNT = 30;
    const keys = Array.from({ length: COUNT }, (_, i) => `crash-${i}-${randomUUID()}`);
    keys.forEach((key, i) => {
      // Every third receiver processes the first attempt and never answers (the sender times out
      // not knowing it worked); every third is slow; the rest answer at once.
      if (i % 3 === 0) webhookFaults.set(key, (n) => (n === 1 ? { hang: true } : undefined));
      else if (i % 3 === 1) webhookFaults.set(key, () => ({ delayMs: 1500 }));
    });
    const requested = await Promise.all(
      keys.map((key, i) => request('webhook', hooks.url, { n: i }, key)),
    );
    const seen = () => hooks.attempts.filter((a) => keys.includes(a.key ?? '')).length;
    await waitFor(() => seen() >= 20, { timeoutMs: 30_000, description: '20 requests received' });
    const finishedBeforeKill = await countFinished(requested.map((r) => r.deliveryId));

    const outbox = stack.services.get('outbox')!;
    outbox.kill('SIGKILL');
    await outbox.exited;
    await stack.start('outbox');

    const all = await Promise.all(requested.map((r) => finished(r.deliveryId, 120_000)));

    const attempts = hooks.attempts.filter((a) => keys.includes(a.key ?? ''));
    const recordedAttempts = all.map((events) => {
      const last = events.at(-1)!;
      return last.type === 'DeliverySucceeded' ? last.data.attempts : -1;
    });
    const summary = {
      keys: COUNT,
      finishedBeforeKill,
      requestsReceived: attempts.length,
      repeatsAnsweredFromStore: attempts.filter((a) => a.handling === 'repeat').length,
      recordedAttempts: recordedAttempts.reduce((a, b) => a + b, 0),
      keysWithMoreThanOneRequest: keys.filter((k) => hooks.attemptsFor(k).length > 1).length,
      processed: keys.filter((k) => hooks.processedByKey.get(k) === 1).length,
      processedTwice: keys.filter((k) => (hooks.processedByKey.get(k) ?? 0) > 1).length,
    };
    console.log(`kill -9 during deliveries: ${JSON.stringify(summary)}`);

    expect(finishedBeforeKill).toBeLessThan(COUNT); // the kill did land in the middle
    expect(all.every((events) => events.at(-1)!.type === 'DeliverySucceeded')).toBe(true);
    for (const key of keys) expect(hooks.processedByKey.get(key)).toBe(1);
    expect(summary.processedTwice).toBe(0);
    expect(attempts.every((a) => a.signatureValid)).toBe(true);
    expect(attempts.length).toBeGreaterThan(COUNT); // the hung ones at least were sent twice
    // Every request of a key carried the same key and delivery id.
    for (const r of requested)
      expect(new Set(hooks.attemptsFor(r.idempotencyKey).map((a) => a.deliveryId))).toEqual(
        new Set([r.deliveryId]),
      );
  });

  const countFinished = async (deliveryIds: string[]) => {
    const { rows } = await stack.pool.query<{ n: string }>(
      `SELECT count(*) AS n FROM events WHERE stream_id = ANY($1) AND type = ANY($2)`,
      [deliveryIds.map((id) => streamIds.delivery(id)), [...FINAL]],
    );
    return Number(rows[0]!.n);
  };
});
