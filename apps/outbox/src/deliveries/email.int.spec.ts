import { createServer, type Server, type Socket } from 'node:net';
import type { AddressInfo } from 'node:net';
import { startSmtpReceiver, type SmtpFault, type SmtpReceiver } from '@keel/testing';
import type { AttemptOutcome } from './delivery-state';
import { EmailSender, messageIdFor, type EmailAttempt } from './email';

const FROM = 'keel@outbox.test';

/** EmailSender (nodemailer, pooled SMTP) against a real SMTP server (smtp-server). */
describe('EmailSender against a real SMTP receiver', () => {
  let receiver: SmtpReceiver | undefined;
  let sender: EmailSender | undefined;
  let n = 0;

  afterEach(async () => {
    sender?.close();
    await receiver?.close();
    sender = undefined;
    receiver = undefined;
  });

  const start = async (script?: (attempt: number) => SmtpFault | undefined, timeoutMs = 3000) => {
    receiver = await startSmtpReceiver(script ? { script: (attempt) => script(attempt) } : {});
    sender = new EmailSender({ smtpUrl: receiver.url, from: FROM, timeoutMs });
    return { receiver, sender };
  };
  const email = (over: Partial<EmailAttempt> = {}): EmailAttempt => ({
    deliveryId: `0190f5a4-0000-7000-8000-${String(++n).padStart(12, '0')}`,
    idempotencyKey: `run-1:step-${n}`,
    target: 'ops@example.test',
    payload: { subject: `Report ${n}: ünïcödé`, text: `Line one\nLíne two = ${n}\n.\nlast` },
    ...over,
  });
  const failure = (o: AttemptOutcome) => {
    if (o.ok) throw new Error(`expected a failure, got ${o.receipt}`);
    return o;
  };

  it('delivers the message with its envelope, subject, text, key header and deterministic Message-ID', async () => {
    const { receiver, sender } = await start();
    const e = email();

    const outcome = await sender.send(e);

    expect(outcome.ok).toBe(true);
    if (outcome.ok) expect(outcome.receipt).toMatch(/^250 /);
    const got = await receiver.waitForKey(e.idempotencyKey);
    expect(got).toMatchObject({
      mailFrom: FROM,
      rcptTo: ['ops@example.test'],
      subject: (e.payload as { subject: string }).subject,
      text: (e.payload as { text: string }).text,
      replyCode: 250,
      messageId: messageIdFor(e.idempotencyKey, FROM),
    });
    expect(got.headers['x-keel-delivery-id']).toBe(e.deliveryId);
    expect(receiver.acceptedByKey.get(e.idempotencyKey)).toBe(1);
  });

  it('sends the same Message-ID on every attempt of a key, a different one for another key', async () => {
    const { receiver, sender } = await start();
    const e = email();
    await sender.send(e);
    await sender.send(e);
    await sender.send(email());
    const ids = receiver.messages.map((m) => m.messageId);
    expect(ids[0]).toBe(ids[1]);
    expect(ids[2]).not.toBe(ids[0]);
    expect(ids[0]).toMatch(/^<keel\.[0-9a-f]{40}@outbox\.test>$/);
  });

  it('given a 4xx reply to DATA, then it is transient; the next attempt goes through', async () => {
    const { receiver, sender } = await start((attempt) =>
      attempt === 1 ? { code: 451, message: 'Try again later' } : undefined,
    );
    const e = email();
    const outcome = failure(await sender.send(e));
    expect(outcome.error).toMatchObject({ code: 'EMAIL_SMTP_451', retryable: true });
    expect(outcome.error.message).toContain('Try again later');
    expect(await sender.send(e)).toMatchObject({ ok: true });
    expect(receiver.messages.map((m) => m.replyCode)).toEqual([451, 250]);
    expect(receiver.acceptedByKey.get(e.idempotencyKey)).toBe(1);
  });

  it('given a 5xx reply to DATA, then it is permanent', async () => {
    const { sender } = await start(() => ({ code: 550, message: 'Mailbox unavailable' }));
    const outcome = failure(await sender.send(email()));
    expect(outcome.error).toMatchObject({ code: 'EMAIL_SMTP_550', retryable: false });
  });

  it('given 503 (bad sequence of commands), then it is transient', async () => {
    const { sender } = await start(() => ({ code: 503, message: 'Bad sequence' }));
    const outcome = failure(await sender.send(email()));
    expect(outcome.error).toMatchObject({ code: 'EMAIL_SMTP_503', retryable: true });
  });

  it('given nothing listening, then it is a transient connection error', async () => {
    const port = await closedPort();
    sender = new EmailSender({ smtpUrl: `smtp://127.0.0.1:${port}`, from: FROM, timeoutMs: 2000 });
    const outcome = failure(await sender.send(email()));
    expect(outcome.error).toMatchObject({ code: 'EMAIL_CONNECTION', retryable: true });
  });

  it('given a server that never greets, then the attempt times out (transient)', async () => {
    const sockets: Socket[] = [];
    const silent = createServer((s) => sockets.push(s));
    const port = await listen(silent);
    sender = new EmailSender({ smtpUrl: `smtp://127.0.0.1:${port}`, from: FROM, timeoutMs: 300 });
    try {
      const started = Date.now();
      const outcome = failure(await sender.send(email()));
      expect(Date.now() - started).toBeLessThan(3000);
      expect(outcome.error).toMatchObject({ code: 'EMAIL_TIMEOUT', retryable: true });
    } finally {
      sockets.forEach((s) => s.destroy());
      await new Promise((r) => silent.close(r));
    }
  });

  it('given a payload that is not an EmailPayload or a bad recipient, then it is permanent and nothing is sent', async () => {
    const { receiver, sender } = await start();
    const bad = failure(await sender.send(email({ payload: { body: 'no subject' } })));
    expect(bad.error).toMatchObject({ code: 'EMAIL_INVALID_PAYLOAD', retryable: false });
    const to = failure(await sender.send(email({ target: 'not an address' })));
    expect(to.error).toMatchObject({ code: 'EMAIL_INVALID_TARGET', retryable: false });
    expect(receiver.messages).toHaveLength(0);
  });
});

function listen(server: Server): Promise<number> {
  return new Promise((resolve) =>
    server.listen(0, '127.0.0.1', () => resolve((server.address() as AddressInfo).port)),
  );
}

async function closedPort(): Promise<number> {
  const server = createServer();
  const port = await listen(server);
  await new Promise((r) => server.close(r));
  return port;
}
