import { createHmac, timingSafeEqual } from 'node:crypto';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { readBody } from '../http-body';
import { closeServer, listen, sendJson } from '../http-server';
import { waitFor } from '../wait-for';

/**
 * A fault a script injects into one request:
 * - `{ status, retryAfterSeconds? }`: answered with that status (and
 *   `Retry-After`) before anything is processed;
 * - `{ drop: true }`: the connection is destroyed before anything is processed;
 * - `{ hang: true }`: the request IS processed (the side effect happens), then
 *   never answered — the sender times out not knowing it worked, the case the
 *   idempotency key exists for;
 * - `{ delayMs }`: processed, answered normally after `delayMs`.
 */
export type WebhookFault =
  | { status: number; retryAfterSeconds?: number }
  | { drop: true }
  | { hang: true }
  | { delayMs: number };

export interface WebhookRequestInfo {
  key: string;
  deliveryId: string | undefined;
  body: string;
}

/** What became of one request. */
export type WebhookHandling =
  /** First successful processing of its key. */
  | 'processed'
  /** A key already processed: answered with the stored answer, not processed again. */
  | 'repeat'
  /** A scripted status or drop. */
  | 'fault'
  | 'bad-signature'
  /** No Idempotency-Key, or a body that is not JSON. */
  | 'bad-request'
  /** A processed key sent again with a different body (answered 422). */
  | 'key-reuse';

export interface ReceivedWebhook {
  key: string | undefined;
  deliveryId: string | undefined;
  /** `Keel-Delivery-Attempt`, as sent. */
  senderAttempt: number | undefined;
  /** 1-based count of requests carrying this key, this one included. */
  attemptForKey: number;
  body: string;
  headers: Record<string, string>;
  receivedAt: number;
  signatureValid: boolean;
  /** The status answered; undefined when the request was dropped or hung. */
  status: number | undefined;
  handling: WebhookHandling;
  fault: WebhookFault | undefined;
}

export interface WebhookReceiverOptions {
  /** The shared secret `Keel-Signature` is checked against. */
  secret: string;
  /** Faults per request: `attemptForKey` is 1 on the first request carrying a key. */
  script?: (attemptForKey: number, request: WebhookRequestInfo) => WebhookFault | undefined;
  /** `Keel-Timestamp` further than this from now is refused (401). Default 300 s. */
  toleranceSeconds?: number;
}

export interface WebhookReceiver {
  /** `http://127.0.0.1:<port>/hooks`. */
  url: string;
  /** Every request, in arrival order. */
  readonly attempts: readonly ReceivedWebhook[];
  /** How many times each key was processed (a well-behaved receiver: at most once). */
  readonly processedByKey: ReadonlyMap<string, number>;
  /** The parsed body each key was processed with. */
  readonly processedBodies: ReadonlyMap<string, unknown>;
  attemptsFor(key: string): ReceivedWebhook[];
  /** Resolves once `count` distinct keys have been processed. */
  waitForProcessed(count: number, timeoutMs?: number): Promise<void>;
  close(): Promise<void>;
}

const MAX_BODY_BYTES = 1024 * 1024;

/**
 * A real HTTP webhook receiver that behaves the way Keel asks receivers to:
 * it verifies `Keel-Signature` (`v1=` hex HMAC-SHA256 of `<Keel-Timestamp>.<body>`;
 * a bad or stale one is answered 401 and recorded), and it is idempotent by
 * `Idempotency-Key` — the first successful processing of a key is counted in
 * `processedByKey` and its answer stored; a repeat gets the same 200 without
 * being processed again.
 */
export async function startWebhookReceiver(
  options: WebhookReceiverOptions,
): Promise<WebhookReceiver> {
  const attempts: ReceivedWebhook[] = [];
  const processedByKey = new Map<string, number>();
  const processedBodies = new Map<string, unknown>();
  const stored = new Map<string, { body: string; answer: unknown }>();
  const countByKey = new Map<string, number>();
  const tolerance = options.toleranceSeconds ?? 300;

  async function handle(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const raw = (await readBody(req, MAX_BODY_BYTES)).toString('utf8');
    const headers = flatHeaders(req);
    const key = headers['idempotency-key'];
    const attemptForKey = key === undefined ? 1 : (countByKey.get(key) ?? 0) + 1;
    if (key !== undefined) countByKey.set(key, attemptForKey);
    const senderAttempt = headers['keel-delivery-attempt'];
    const record: ReceivedWebhook = {
      key,
      deliveryId: headers['keel-delivery-id'],
      senderAttempt: senderAttempt === undefined ? undefined : Number(senderAttempt),
      attemptForKey,
      body: raw,
      headers,
      receivedAt: Date.now(),
      signatureValid: verifySignature(options.secret, headers, raw, tolerance),
      status: undefined,
      handling: 'bad-request',
      fault: undefined,
    };
    attempts.push(record);
    const answer = (status: number, body: unknown, extra: Record<string, string> = {}) => {
      record.status = status;
      sendJson(res, status, body, extra);
    };

    if (!record.signatureValid) {
      record.handling = 'bad-signature';
      return answer(401, { error: 'invalid signature' });
    }
    let json: unknown;
    try {
      json = JSON.parse(raw);
    } catch {
      return answer(400, { error: 'body is not JSON' });
    }
    if (req.method !== 'POST' || key === undefined)
      return answer(400, { error: 'POST with an Idempotency-Key expected' });

    const fault = options.script?.(attemptForKey, {
      key,
      deliveryId: record.deliveryId,
      body: raw,
    });
    record.fault = fault;
    if (fault && 'status' in fault) {
      record.handling = 'fault';
      return answer(
        fault.status,
        { error: 'scripted fault' },
        fault.retryAfterSeconds !== undefined
          ? { 'retry-after': String(fault.retryAfterSeconds) }
          : {},
      );
    }
    if (fault && 'drop' in fault) {
      record.handling = 'fault';
      req.socket.destroy();
      return;
    }

    const previous = stored.get(key);
    let reply: unknown;
    if (previous) {
      if (previous.body !== raw) {
        record.handling = 'key-reuse';
        return answer(422, { error: 'Idempotency-Key reused with a different body' });
      }
      record.handling = 'repeat';
      reply = previous.answer;
    } else {
      record.handling = 'processed';
      processedByKey.set(key, (processedByKey.get(key) ?? 0) + 1);
      processedBodies.set(key, json);
      reply = { received: true, deliveryId: record.deliveryId, processedAt: record.receivedAt };
      stored.set(key, { body: raw, answer: reply });
    }
    if (fault && 'hang' in fault) return; // never answered; closed by close()
    if (fault && 'delayMs' in fault) await new Promise((r) => setTimeout(r, fault.delayMs));
    if (!res.destroyed) answer(200, reply);
  }

  const server = createServer((req, res) => {
    handle(req, res).catch((err: unknown) => {
      if (!res.headersSent && !res.destroyed) sendJson(res, 500, { error: String(err) });
    });
  });
  await listen(server, 0, '127.0.0.1');
  const { port } = server.address() as AddressInfo;

  return {
    url: `http://127.0.0.1:${port}/hooks`,
    attempts,
    processedByKey,
    processedBodies,
    attemptsFor: (key) => attempts.filter((a) => a.key === key),
    waitForProcessed: async (count, timeoutMs = 10_000) => {
      await waitFor(() => processedByKey.size >= count, {
        timeoutMs,
        description: () =>
          `${count} webhook key(s) processed (have ${processedByKey.size}, ${attempts.length} request(s))`,
      });
    },
    close: () => closeServer(server),
  };
}

/**
 * The check a receiver makes: `Keel-Signature` holds a `v1=<hex>` (several may
 * be listed, comma-separated, during a secret rotation) equal to
 * HMAC-SHA256(secret, `<Keel-Timestamp>.<raw body>`), and the timestamp is
 * within `toleranceSeconds` of now.
 */
export function verifySignature(
  secret: string,
  headers: Record<string, string>,
  body: string,
  toleranceSeconds = 300,
  nowMs = Date.now(),
): boolean {
  const timestamp = headers['keel-timestamp'];
  const signature = headers['keel-signature'];
  if (!timestamp || !signature || !/^\d+$/.test(timestamp)) return false;
  if (Math.abs(nowMs / 1000 - Number(timestamp)) > toleranceSeconds) return false;
  const expected = createHmac('sha256', secret).update(`${timestamp}.${body}`).digest();
  return signature
    .split(',')
    .map((s) => s.trim())
    .filter((s) => s.startsWith('v1='))
    .some((s) => {
      const given = Buffer.from(s.slice(3), 'hex');
      return given.length === expected.length && timingSafeEqual(given, expected);
    });
}

function flatHeaders(req: IncomingMessage): Record<string, string> {
  const out: Record<string, string> = {};
  for (const [k, v] of Object.entries(req.headers)) {
    if (v === undefined) continue;
    out[k] = Array.isArray(v) ? v.join(', ') : v;
  }
  return out;
}
