import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import {
  startWebhookReceiver,
  verifySignature,
  type WebhookFault,
  type WebhookReceiver,
} from '@keel/testing';
import type { AttemptOutcome } from './delivery-state';
import {
  classifyStatus,
  parseRetryAfter,
  webhookSignature,
  WebhookSender,
  type WebhookAttempt,
} from './webhook';

const SECRET = 'int-test-webhook-secret';

/** WebhookSender (node:http, keep-alive) against a real receiver that verifies signatures. */
describe('WebhookSender against a real webhook receiver', () => {
  let receiver: WebhookReceiver | undefined;
  let sender: WebhookSender | undefined;
  let n = 0;

  afterEach(async () => {
    sender?.close();
    await receiver?.close();
    receiver = undefined;
    sender = undefined;
  });

  const start = async (
    script?: (attempt: number) => WebhookFault | undefined,
    opts: { secret?: string; timeoutMs?: number } = {},
  ) => {
    receiver = await startWebhookReceiver({
      secret: SECRET,
      ...(script ? { script: (attempt) => script(attempt) } : {}),
    });
    sender = new WebhookSender({
      secret: opts.secret ?? SECRET,
      timeoutMs: opts.timeoutMs ?? 2000,
    });
    return { receiver, sender };
  };
  const attempt = (over: Partial<WebhookAttempt> = {}): WebhookAttempt => ({
    deliveryId: `0190f5a4-0000-7000-8000-${String(++n).padStart(12, '0')}`,
    idempotencyKey: `key-${n}`,
    target: receiver?.url ?? 'http://127.0.0.1:9/unused',
    payload: { order: n, note: 'ünïcödé & "quotes"' },
    attempt: 1,
    ...over,
  });
  const failure = (o: AttemptOutcome) => {
    if (o.ok) throw new Error(`expected a failure, got ${o.receipt}`);
    return o;
  };

  it('given a 2xx, then it succeeds and the receiver sees a valid signature and every header', async () => {
    const { receiver, sender } = await start();
    const a = attempt();
    const before = Math.floor(Date.now() / 1000);

    const outcome = await sender.send(a);

    expect(outcome).toEqual({ ok: true, receipt: 'HTTP 200' });
    expect(receiver.attempts).toHaveLength(1);
    const got = receiver.attempts[0]!;
    expect(got).toMatchObject({
      signatureValid: true,
      handling: 'processed',
      key: a.idempotencyKey,
      deliveryId: a.deliveryId,
      senderAttempt: 1,
      status: 200,
    });
    expect(JSON.parse(got.body)).toEqual(a.payload);
    expect(got.headers['content-type']).toBe('application/json');
    const ts = Number(got.headers['keel-timestamp']);
    expect(ts).toBeGreaterThanOrEqual(before);
    expect(ts).toBeLessThanOrEqual(before + 5);
    expect(got.headers['keel-signature']).toBe(webhookSignature(SECRET, ts, got.body));
    expect(got.headers['keel-signature']).toMatch(/^v1=[0-9a-f]{64}$/);
    expect(receiver.processedByKey.get(a.idempotencyKey)).toBe(1);
  });

  it('given the same key twice, then the receiver processes it once and answers the repeat with 200', async () => {
    const { receiver, sender } = await start();
    const a = attempt();
    expect(await sender.send(a)).toMatchObject({ ok: true });
    expect(await sender.send({ ...a, attempt: 2 })).toMatchObject({ ok: true });
    expect(receiver.attempts.map((r) => r.handling)).toEqual(['processed', 'repeat']);
    expect(receiver.processedByKey.get(a.idempotencyKey)).toBe(1);
  });

  it('given a sender with the wrong secret, then the receiver answers 401 and it is permanent', async () => {
    const { receiver, sender } = await start(undefined, { secret: 'not-the-receivers-secret' });
    const outcome = failure(await sender.send(attempt()));
    expect(outcome.error).toMatchObject({ code: 'WEBHOOK_HTTP_401', retryable: false });
    expect(receiver.attempts[0]).toMatchObject({
      signatureValid: false,
      handling: 'bad-signature',
    });
    expect(receiver.processedByKey.size).toBe(0);
  });

  it.each([
    [400, false],
    [404, false],
    [422, false],
    [301, false],
    [408, true],
    [409, true],
    [425, true],
    [429, true],
    [500, true],
    [502, true],
    [503, true],
  ])('given HTTP %i, then retryable is %s', async (status, retryable) => {
    const { receiver, sender } = await start(() => ({ status }));
    const outcome = failure(await sender.send(attempt()));
    expect(outcome.error).toMatchObject({ code: `WEBHOOK_HTTP_${status}`, retryable });
    expect(outcome.retryAfterMs).toBeUndefined();
    expect(receiver.processedByKey.size).toBe(0);
  });

  it('given 429 with Retry-After seconds, then the wait is passed on', async () => {
    const { sender } = await start(() => ({ status: 429, retryAfterSeconds: 7 }));
    const outcome = failure(await sender.send(attempt()));
    expect(outcome).toMatchObject({
      error: { code: 'WEBHOOK_HTTP_429', retryable: true },
      retryAfterMs: 7000,
    });
  });

  it('given a receiver that processes but never answers, then the attempt times out (transient) and the retry with the same key is a repeat', async () => {
    const { receiver, sender } = await start((n) => (n === 1 ? { hang: true } : undefined), {
      timeoutMs: 300,
    });
    const a = attempt();
    const started = Date.now();
    const outcome = failure(await sender.send(a));
    expect(Date.now() - started).toBeLessThan(2000);
    expect(outcome.error).toMatchObject({ code: 'WEBHOOK_TIMEOUT', retryable: true });

    expect(await sender.send({ ...a, attempt: 2 })).toEqual({ ok: true, receipt: 'HTTP 200' });
    expect(receiver.attempts.map((r) => r.handling)).toEqual(['processed', 'repeat']);
    expect(receiver.processedByKey.get(a.idempotencyKey)).toBe(1);
  });

  it('given a dropped connection, then it is a transient connection error', async () => {
    const { sender } = await start(() => ({ drop: true }));
    const outcome = failure(await sender.send(attempt()));
    expect(outcome.error).toMatchObject({ code: 'WEBHOOK_CONNECTION', retryable: true });
  });

  it('given nothing listening, then connection refused is transient and names the origin only', async () => {
    const { url, close } = await freePortUrl();
    await close();
    sender = new WebhookSender({ secret: SECRET, timeoutMs: 2000 });
    const outcome = failure(
      await sender.send(attempt({ target: `${url}/hooks/T0KEN-IN-PATH?sig=QUERY-SECRET` })),
    );
    expect(outcome.error).toMatchObject({ code: 'WEBHOOK_CONNECTION', retryable: true });
    expect(outcome.error.message).toContain('ECONNREFUSED');
    expect(outcome.error.message).not.toMatch(/T0KEN|QUERY-SECRET/);
  });

  it('given a target that is not an http(s) URL, then it is permanent', async () => {
    sender = new WebhookSender({ secret: SECRET, timeoutMs: 2000 });
    for (const target of ['not a url', 'ftp://example.com/x', 'http://user:pw@example.com/x']) {
      const outcome = failure(await sender.send(attempt({ target })));
      expect(outcome.error).toMatchObject({ code: 'WEBHOOK_INVALID_TARGET', retryable: false });
    }
  });

  it('reuses its keep-alive connection between attempts', async () => {
    let connections = 0;
    const server = createServer((req, res) => {
      req.resume();
      req.on('end', () => res.writeHead(204).end());
    });
    server.on('connection', () => connections++);
    const url = await listenOn(server);
    sender = new WebhookSender({ secret: SECRET, timeoutMs: 2000 });
    try {
      for (let i = 0; i < 3; i++) {
        expect(await sender.send(attempt({ target: url }))).toEqual({
          ok: true,
          receipt: 'HTTP 204',
        });
        await new Promise((r) => setTimeout(r, 20)); // the agent takes the socket back asynchronously
      }
      expect(connections).toBe(1);
    } finally {
      server.closeAllConnections();
      await new Promise((r) => server.close(r));
    }
  });
});

describe('webhook classification and signature (pure)', () => {
  it('classifies statuses', () => {
    expect(classifyStatus(200)).toBe('success');
    expect(classifyStatus(204)).toBe('success');
    expect(classifyStatus(302)).toBe('permanent');
    expect(classifyStatus(403)).toBe('permanent');
    expect(classifyStatus(429)).toBe('transient');
    expect(classifyStatus(599)).toBe('transient');
  });

  it('reads Retry-After as seconds or as an HTTP date', () => {
    const now = Date.parse('2026-01-01T00:00:00Z');
    expect(parseRetryAfter('120', now)).toBe(120_000);
    expect(parseRetryAfter(' 0 ', now)).toBe(0);
    expect(parseRetryAfter('Thu, 01 Jan 2026 00:00:30 GMT', now)).toBe(30_000);
    expect(parseRetryAfter('Wed, 31 Dec 2025 23:00:00 GMT', now)).toBe(0);
    expect(parseRetryAfter('soon', now)).toBeUndefined();
    expect(parseRetryAfter(undefined, now)).toBeUndefined();
  });

  it('signs "<timestamp>.<body>" so that the receiver’s check accepts it, and nothing else', () => {
    const body = '{"a":1}';
    const ts = Math.floor(Date.now() / 1000);
    const headers = {
      'keel-timestamp': String(ts),
      'keel-signature': webhookSignature('s3cret', ts, body),
    };
    expect(verifySignature('s3cret', headers, body)).toBe(true);
    expect(verifySignature('other', headers, body)).toBe(false);
    expect(verifySignature('s3cret', headers, '{"a":2}')).toBe(false);
    expect(verifySignature('s3cret', { ...headers, 'keel-timestamp': String(ts + 1) }, body)).toBe(
      false,
    );
    const old = ts - 3600;
    const stale = {
      'keel-timestamp': String(old),
      'keel-signature': webhookSignature('s3cret', old, body),
    };
    expect(verifySignature('s3cret', stale, body)).toBe(false);
  });
});

async function listenOn(server: Server): Promise<string> {
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  return `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
}

async function freePortUrl(): Promise<{ url: string; close: () => Promise<void> }> {
  const server = createServer();
  const url = await listenOn(server);
  return { url, close: () => new Promise((r) => server.close(() => r())) };
}
