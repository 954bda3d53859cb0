import { createHash } from 'node:crypto';
import { createTransport } from 'nodemailer';
import { EmailPayload, type ErrorInfo } from '@keel/contracts';
import type { AttemptOutcome } from './delivery-state';

/** What one email attempt sends. */
export interface EmailAttempt {
  readonly deliveryId: string;
  readonly idempotencyKey: string;
  /** The recipient address. */
  readonly target: string;
  /** An `EmailPayload` (`subject`, `text`); anything else is a permanent failure. */
  readonly payload: unknown;
}

export interface EmailSenderOptions {
  /** `smtp://[user:pass@]host:port`, or `smtps://` for implicit TLS. */
  readonly smtpUrl: string;
  /** The `From` address. */
  readonly from: string;
  /** The whole attempt (connect, greeting, envelope, data) is aborted after this long. */
  readonly timeoutMs: number;
  /** SMTP connections kept open. Default 5. */
  readonly maxConnections?: number;
}

/** The header carrying the delivery's idempotency key, for receivers that deduplicate. */
export const IDEMPOTENCY_HEADER = 'X-Keel-Idempotency-Key';

/**
 * A Message-ID that is the same for every attempt of a delivery (it is derived
 * from the idempotency key), so a mail system or client that deduplicates by
 * Message-ID sees one message however often it was sent.
 */
export function messageIdFor(idempotencyKey: string, from: string): string {
  const hash = createHash('sha256').update(idempotencyKey).digest('hex').slice(0, 40);
  const domain = /@([A-Za-z0-9.-]+)>?\s*$/.exec(from)?.[1] ?? 'keel.invalid';
  return `<keel.${hash}@${domain}>`;
}

/**
 * Sends email deliveries with nodemailer's (pooled) SMTP transport.
 *
 * Classification: an SMTP 4xx reply, a connection failure or a timeout is
 * transient; a 5xx reply is permanent — except 503 (bad sequence of commands:
 * a session problem, not a verdict on the message), as nodemailer itself
 * reads it. An invalid payload or recipient is permanent.
 *
 * Never logs the payload; errors carry the SMTP reply code and text only.
 */
export class EmailSender {
  private readonly transport: ReturnType<typeof createSmtpPool>;

  constructor(private readonly o: EmailSenderOptions) {
    this.transport = createSmtpPool(o);
  }

  async send(a: EmailAttempt): Promise<AttemptOutcome> {
    const payload = EmailPayload.safeParse(a.payload);
    if (!payload.success)
      return permanent(
        'EMAIL_INVALID_PAYLOAD',
        'the payload is not an EmailPayload (subject, text)',
      );
    if (!/^[^\s@<>]+@[^\s@<>]+$/.test(a.target))
      return permanent('EMAIL_INVALID_TARGET', 'the target is not an email address');
    const signal = AbortSignal.timeout(this.o.timeoutMs);
    try {
      const info = await this.transport.sendMail({
        from: this.o.from,
        to: a.target,
        subject: payload.data.subject,
        text: payload.data.text,
        messageId: messageIdFor(a.idempotencyKey, this.o.from),
        headers: {
          [IDEMPOTENCY_HEADER]: a.idempotencyKey.replace(/[\r\n]+/g, ' '),
          'X-Keel-Delivery-Id': a.deliveryId,
        },
        signal,
      });
      const rejected = (info.rejected ?? []).length;
      if (rejected > 0)
        return permanent('EMAIL_REJECTED', `the server rejected ${rejected} recipient(s)`);
      return { ok: true, receipt: String(info.response ?? 'accepted') };
    } catch (err) {
      return classifySmtpError(err, signal.aborted, this.o.timeoutMs);
    }
  }

  /** Closes the pool's connections. */
  close(): void {
    this.transport.close();
  }
}

function createSmtpPool(o: EmailSenderOptions) {
  return createTransport({
    url: o.smtpUrl,
    pool: true,
    maxConnections: o.maxConnections ?? 5,
    connectionTimeout: o.timeoutMs,
    greetingTimeout: o.timeoutMs,
    socketTimeout: o.timeoutMs,
    // Nodemailer must not log message content (or anything): it is off by default; keep it so.
    logger: false,
  });
}

interface SmtpError {
  code?: string;
  responseCode?: number;
  response?: string;
}

export function classifySmtpError(
  err: unknown,
  timedOut: boolean,
  timeoutMs: number,
): AttemptOutcome {
  const e = (err ?? {}) as SmtpError;
  const reply = typeof e.responseCode === 'number' ? e.responseCode : undefined;
  if (reply !== undefined && reply >= 400) {
    const text = (e.response ?? '').replace(/\s+/g, ' ').slice(0, 300);
    const retryable = reply < 500 || reply === 503;
    return {
      ok: false,
      error: {
        code: `EMAIL_SMTP_${reply}`,
        message: `the SMTP server replied: ${text}`,
        retryable,
      },
    };
  }
  if (timedOut || e.code === 'ETIMEDOUT' || e.code === 'EABORT')
    return transient('EMAIL_TIMEOUT', `the SMTP exchange took longer than ${timeoutMs} ms`);
  return transient(
    'EMAIL_CONNECTION',
    `could not talk to the SMTP server (${e.code ?? (err instanceof Error ? err.name : 'error')})`,
  );
}

const transient = (code: string, message: string): AttemptOutcome => ({
  ok: false,
  error: { code, message, retryable: true } satisfies ErrorInfo,
});
const permanent = (code: string, message: string): AttemptOutcome => ({
  ok: false,
  error: { code, message, retryable: false } satisfies ErrorInfo,
});
