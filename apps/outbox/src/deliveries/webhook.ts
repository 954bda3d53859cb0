import { createHmac } from 'node:crypto';
import { Agent as HttpAgent, request as httpRequest, type IncomingMessage } from 'node:http';
import { Agent as HttpsAgent, request as httpsRequest } from 'node:https';
import type { ErrorInfo } from '@keel/contracts';
import type { AttemptOutcome } from './delivery-state';

/** What one webhook attempt sends. */
export interface WebhookAttempt {
  readonly deliveryId: string;
  readonly idempotencyKey: string;
  /** An `http:` or `https:` URL. */
  readonly target: string;
  /** The JSON body. */
  readonly payload: unknown;
  /** 1-based, sent as `Keel-Delivery-Attempt`. */
  readonly attempt: number;
}

export interface WebhookSenderOptions {
  /** HMAC-SHA256 key of `Keel-Signature`. */
  readonly secret: string;
  /** The whole attempt (connect, send, answer) is aborted after this long. */
  readonly timeoutMs: number;
  /** Sockets kept per receiver origin. Default 64. */
  readonly maxSockets?: number;
  /** For tests. */
  readonly now?: () => number;
}

/** Signature scheme version; a receiver checks `Keel-Signature: v1=<hex>`. */
export const SIGNATURE_VERSION = 'v1';

/**
 * `Keel-Signature` of a body sent at `timestamp` (unix seconds):
 * `v1=` + hex HMAC-SHA256(secret, `<timestamp>.<body>`).
 */
export function webhookSignature(secret: string, timestamp: number, body: string): string {
  const mac = createHmac('sha256', secret).update(`${timestamp}.${body}`).digest('hex');
  return `${SIGNATURE_VERSION}=${mac}`;
}

/** Statuses that may succeed later (besides every 5xx). */
const TRANSIENT_STATUSES = new Set([408, 409, 425, 429]);
/** A response body is read only to free the socket; this much at most. */
const MAX_RESPONSE_BYTES = 64 * 1024;
const RECEIPT_PREFIX = 'HTTP ';

/**
 * POSTs delivery payloads to webhook receivers over node:http(s), with its own
 * keep-alive agents (deliveries never share sockets with anything else).
 *
 * Every attempt carries `Idempotency-Key` (the same on every attempt of a
 * delivery: the receiver's only way to recognise a repeat), `Keel-Delivery-Id`,
 * `Keel-Timestamp` (unix seconds, fresh per attempt) and `Keel-Signature`.
 * Redirects are not followed (a 3xx is a permanent failure): the signature
 * and the payload go to the configured receiver or nowhere.
 *
 * Classification: 2xx → success (receipt `HTTP <status>`); 408, 409, 425,
 * 429, 5xx, timeouts and connection errors → transient (Retry-After, in
 * seconds or as an HTTP date, is passed on); any other status → permanent.
 *
 * Never logs, and never puts into an error message, the payload, the secret
 * or the target's path and query (webhook URLs often embed a token): errors
 * name the origin only.
 */
export class WebhookSender {
  private readonly http: HttpAgent;
  private readonly https: HttpsAgent;
  private readonly now: () => number;

  constructor(private readonly o: WebhookSenderOptions) {
    const agentOptions = {
      keepAlive: true,
      maxSockets: o.maxSockets ?? 64,
      scheduling: 'lifo' as const,
    };
    this.http = new HttpAgent(agentOptions);
    this.https = new HttpsAgent(agentOptions);
    this.now = o.now ?? Date.now;
  }

  async send(a: WebhookAttempt): Promise<AttemptOutcome> {
    let url: URL;
    try {
      url = new URL(a.target);
    } catch {
      return permanent('WEBHOOK_INVALID_TARGET', 'the target is not a URL');
    }
    if (url.protocol !== 'http:' && url.protocol !== 'https:')
      return permanent('WEBHOOK_INVALID_TARGET', `unsupported scheme ${url.protocol}`);
    if (url.username || url.password)
      return permanent('WEBHOOK_INVALID_TARGET', 'credentials in the target URL are not supported');

    const body = JSON.stringify(a.payload);
    const signal = AbortSignal.timeout(this.o.timeoutMs);
    try {
      // A keep-alive socket the receiver closed while it sat idle fails at once; that is
      // not the receiver's answer, so the attempt goes once more on a fresh socket (same key).
      let result = await this.post(url, a, body, signal);
      if (result.kind === 'stale-socket') result = await this.post(url, a, body, signal);
      if (result.kind === 'stale-socket') throw result.error;
      return classify(result.response, this.now());
    } catch (err) {
      return classifyError(err, signal, url.origin, this.o.timeoutMs);
    }
  }

  /** Closes idle sockets; requests still running end on their own (or by their timeout). */
  close(): void {
    this.http.destroy();
    this.https.destroy();
  }

  private post(
    url: URL,
    a: WebhookAttempt,
    body: string,
    signal: AbortSignal,
  ): Promise<
    | { kind: 'answered'; response: { status: number; retryAfter: string | undefined } }
    | { kind: 'stale-socket'; error: unknown }
  > {
    const timestamp = Math.floor(this.now() / 1000);
    const headers = {
      'content-type': 'application/json',
      'content-length': String(Buffer.byteLength(body)),
      'user-agent': 'keel-outbox',
      'idempotency-key': a.idempotencyKey,
      'keel-delivery-id': a.deliveryId,
      'keel-delivery-attempt': String(a.attempt),
      'keel-timestamp': String(timestamp),
      'keel-signature': webhookSignature(this.o.secret, timestamp, body),
    };
    const https = url.protocol === 'https:';
    const send = https ? httpsRequest : httpRequest;
    return new Promise((resolve, reject) => {
      const req = send(url, {
        method: 'POST',
        headers,
        agent: https ? this.https : this.http,
        signal,
      });
      req.once('response', (res: IncomingMessage) => {
        drain(res)
          .then(() =>
            resolve({
              kind: 'answered',
              response: { status: res.statusCode ?? 0, retryAfter: res.headers['retry-after'] },
            }),
          )
          .catch(reject);
      });
      req.once('error', (err: NodeJS.ErrnoException) => {
        const stale =
          req.reusedSocket &&
          !signal.aborted &&
          (err.code === 'ECONNRESET' || err.code === 'EPIPE');
        if (stale) resolve({ kind: 'stale-socket', error: err });
        else reject(err);
      });
      req.end(body);
    });
  }
}

/** Reads and discards a response body (bounded), so the socket can be reused. */
async function drain(res: IncomingMessage): Promise<void> {
  let size = 0;
  for await (const chunk of res) {
    size += (chunk as Buffer).length;
    if (size > MAX_RESPONSE_BYTES) {
      res.destroy();
      return;
    }
  }
}

export function classifyStatus(status: number): 'success' | 'transient' | 'permanent' {
  if (status >= 200 && status < 300) return 'success';
  if (status >= 500 || TRANSIENT_STATUSES.has(status)) return 'transient';
  return 'permanent';
}

function classify(
  r: { status: number; retryAfter: string | undefined },
  nowMs: number,
): AttemptOutcome {
  const kind = classifyStatus(r.status);
  if (kind === 'success') return { ok: true, receipt: `${RECEIPT_PREFIX}${r.status}` };
  const error: ErrorInfo = {
    code: `WEBHOOK_HTTP_${r.status}`,
    message: `the receiver answered HTTP ${r.status}`,
    retryable: kind === 'transient',
  };
  if (kind === 'permanent') return { ok: false, error };
  const retryAfterMs = parseRetryAfter(r.retryAfter, nowMs);
  return { ok: false, error, ...(retryAfterMs !== undefined ? { retryAfterMs } : {}) };
}

/** `Retry-After` as milliseconds from now: delta-seconds or an HTTP date; undefined if absent or unreadable. */
export function parseRetryAfter(value: string | undefined, nowMs: number): number | undefined {
  if (value === undefined) return undefined;
  const v = value.trim();
  if (/^\d+$/.test(v)) return Number(v) * 1000;
  const at = Date.parse(v);
  if (Number.isNaN(at)) return undefined;
  return Math.max(0, at - nowMs);
}

const CONNECTION_ERRORS = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'EPIPE',
  'ETIMEDOUT',
  'EHOSTUNREACH',
  'ENETUNREACH',
  'ENOTFOUND',
  'EAI_AGAIN',
  'ECONNABORTED',
]);

function classifyError(
  err: unknown,
  signal: AbortSignal,
  origin: string,
  timeoutMs: number,
): AttemptOutcome {
  if (signal.aborted)
    return transient('WEBHOOK_TIMEOUT', `no answer from ${origin} within ${timeoutMs} ms`);
  const code = (err as NodeJS.ErrnoException | undefined)?.code;
  if (code && CONNECTION_ERRORS.has(code))
    return transient('WEBHOOK_CONNECTION', `${code} talking to ${origin}`);
  if (code?.startsWith('ERR_TLS') || code?.includes('CERT'))
    return transient('WEBHOOK_TLS', `${code} talking to ${origin}`);
  // Anything else the socket layer throws (a parser error, a reset without a code):
  // the receiver may be fine next time; the attempt count bounds it.
  const name = err instanceof Error ? err.name : typeof err;
  return transient('WEBHOOK_CONNECTION', `${code ?? name} talking to ${origin}`);
}

const transient = (code: string, message: string): AttemptOutcome => ({
  ok: false,
  error: { code, message, retryable: true },
});
const permanent = (code: string, message: string): AttemptOutcome => ({
  ok: false,
  error: { code, message, retryable: false },
});
