import type { AddressInfo } from 'node:net';
import type { Readable } from 'node:stream';
import { waitFor } from '../wait-for';
import { parseRawEmail } from './raw-email';

/** A reply to DATA a script injects: e.g. `{ code: 451 }` (try later) or `{ code: 550 }` (refused). */
export interface SmtpFault {
  code: number;
  message?: string;
}

export interface ReceivedEmail {
  /** `X-Keel-Idempotency-Key`. */
  key: string | undefined;
  messageId: string | undefined;
  /** The envelope (MAIL FROM / RCPT TO). */
  mailFrom: string | undefined;
  rcptTo: string[];
  subject: string | undefined;
  text: string;
  /** Header names lower-cased, folded lines joined. */
  headers: Record<string, string>;
  raw: string;
  receivedAt: number;
  /** 1-based count of messages carrying this key, this one included. */
  attemptForKey: number;
  /** The reply code to DATA: 250 when accepted. */
  replyCode: number;
}

export interface SmtpReceiverOptions {
  /** A fault for one DATA: `attemptForKey` is 1 on the first message carrying a key. */
  script?: (attemptForKey: number, email: ReceivedEmail) => SmtpFault | undefined;
}

export interface SmtpReceiver {
  /** `smtp://127.0.0.1:<port>`: the value for `KEEL_SMTP_URL`. */
  url: string;
  port: number;
  /** Every message that reached DATA, accepted or not, in arrival order. */
  readonly messages: readonly ReceivedEmail[];
  /** Accepted messages per idempotency key. */
  readonly acceptedByKey: ReadonlyMap<string, number>;
  accepted(): ReceivedEmail[];
  /** Resolves with the first accepted message carrying `key`. */
  waitForKey(key: string, timeoutMs?: number): Promise<ReceivedEmail>;
  close(): Promise<void>;
}

/**
 * A real SMTP server (smtp-server: no auth, no TLS) on 127.0.0.1 and an
 * ephemeral port, recording every message — envelope, subject, text and the
 * `X-Keel-Idempotency-Key` header, parsed minimally from the raw message —
 * and counting accepted messages per key. A script may answer DATA with a 4xx
 * or 5xx for a given attempt.
 */
export async function startSmtpReceiver(options: SmtpReceiverOptions = {}): Promise<SmtpReceiver> {
  // Loaded on demand: smtp-server is a dev dependency and this module is part of
  // @keel/testing, which the CLI bundles for its scripted model.
  const { SMTPServer } = await import('smtp-server');
  const messages: ReceivedEmail[] = [];
  const acceptedByKey = new Map<string, number>();
  const countByKey = new Map<string, number>();

  const server = new SMTPServer({
    authOptional: true,
    disabledCommands: ['AUTH', 'STARTTLS'],
    logger: false,
    closeTimeout: 200,
    onData(stream, session, callback) {
      readAll(stream)
        .then((raw) => {
          const parsed = parseRawEmail(raw);
          const key = parsed.headers['x-keel-idempotency-key'];
          const attemptForKey = key === undefined ? 1 : (countByKey.get(key) ?? 0) + 1;
          if (key !== undefined) countByKey.set(key, attemptForKey);
          const mailFrom = session.envelope.mailFrom;
          const email: ReceivedEmail = {
            key,
            messageId: parsed.headers['message-id'],
            mailFrom: mailFrom ? mailFrom.address : undefined,
            rcptTo: session.envelope.rcptTo.map((r) => r.address),
            subject: parsed.subject,
            text: parsed.text,
            headers: parsed.headers,
            raw,
            receivedAt: Date.now(),
            attemptForKey,
            replyCode: 250,
          };
          messages.push(email);
          const fault = options.script?.(attemptForKey, email);
          if (fault) {
            email.replyCode = fault.code;
            const err = new Error(fault.message ?? `scripted ${fault.code}`) as Error & {
              responseCode: number;
            };
            err.responseCode = fault.code;
            return callback(err);
          }
          if (key !== undefined) acceptedByKey.set(key, (acceptedByKey.get(key) ?? 0) + 1);
          callback(null, 'OK: queued');
        })
        .catch((err: unknown) => callback(err instanceof Error ? err : new Error(String(err))));
    },
  });
  server.on('error', () => undefined); // a client resetting its connection is not the test's concern
  await new Promise<void>((resolve, reject) => {
    server.server.once('error', reject);
    server.listen(0, '127.0.0.1', () => {
      server.server.off('error', reject);
      resolve();
    });
  });
  const { port } = server.server.address() as AddressInfo;

  return {
    url: `smtp://127.0.0.1:${port}`,
    port,
    messages,
    acceptedByKey,
    accepted: () => messages.filter((m) => m.replyCode === 250),
    waitForKey: (key, timeoutMs = 10_000) =>
      waitFor(() => messages.find((m) => m.key === key && m.replyCode === 250), {
        timeoutMs,
        description: () => `an accepted email with key ${key} (${messages.length} message(s))`,
      }),
    close: () => new Promise<void>((resolve) => server.close(() => resolve())),
  };
}

async function readAll(stream: Readable): Promise<string> {
  const chunks: Buffer[] = [];
  for await (const chunk of stream) chunks.push(chunk as Buffer);
  return Buffer.concat(chunks).toString('utf8');
}
