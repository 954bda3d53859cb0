import { type JetStreamClient, type JetStreamPublishOptions, NatsError } from 'nats';
import { PublishError, PublishErrorCode } from './errors';
import { recordToHeaders } from './headers';
import { injectTraceHeaders } from './trace-context';
import { utf8 } from './utf8';

export interface PublishJsonOptions {
  /**
   * Sets `Nats-Msg-Id`: a second publish with the same id within the stream's
   * duplicate window (2 min) is stored once and acked with `duplicate: true`.
   * Use a stable id of the thing being published (request id, event id), so a
   * retry after a timeout cannot store it twice.
   */
  msgId: string;
  /** Extra headers; `traceparent`/`tracestate` from the active OTel context are added. */
  headers?: Record<string, string>;
  /** Optimistic-concurrency constraints checked by the server before storing. */
  expect?: JetStreamPublishOptions['expect'];
  /** How long to wait for the PubAck (default: the JetStream client's timeout, 5 s). */
  timeoutMs?: number;
}

export interface PublishResult {
  stream: string;
  seq: number;
  /** True when the server recognised `msgId` and did not store the message again. */
  duplicate: boolean;
}

const EXPECTATION_ERR_CODES = new Set([10060, 10070, 10071]);

/**
 * Publishes to JetStream and waits for the PubAck, so success means "stored"
 * (with the stream's replication). A `Uint8Array` payload is sent as is,
 * anything else as JSON. W3C trace context of the active context travels in
 * the headers. Throws `PublishError` (codes in `PublishErrorCode`).
 */
export async function publishJson(
  js: JetStreamClient,
  subject: string,
  payload: unknown,
  opts: PublishJsonOptions,
): Promise<PublishResult> {
  const data = encodePayload(payload);
  const h = injectTraceHeaders(recordToHeaders(opts.headers));
  const pubOpts: Partial<JetStreamPublishOptions> = { msgID: opts.msgId, headers: h };
  if (opts.expect) pubOpts.expect = opts.expect;
  if (opts.timeoutMs !== undefined) pubOpts.timeout = opts.timeoutMs;
  try {
    const ack = await js.publish(subject, data, pubOpts);
    return { stream: ack.stream, seq: ack.seq, duplicate: ack.duplicate };
  } catch (err) {
    throw toPublishError(subject, err);
  }
}

function encodePayload(payload: unknown): Uint8Array {
  if (payload instanceof Uint8Array) return payload;
  let text: string | undefined;
  try {
    text = JSON.stringify(payload);
  } catch (err) {
    throw new PublishError(
      PublishErrorCode.NOT_SERIALISABLE,
      'payload is not serialisable to JSON',
      { cause: err },
    );
  }
  if (text === undefined)
    throw new PublishError(PublishErrorCode.NOT_SERIALISABLE, 'payload serialises to nothing');
  return utf8(text);
}

function toPublishError(subject: string, err: unknown): PublishError {
  if (err instanceof NatsError) {
    if (err.code === '503') {
      return new PublishError(
        PublishErrorCode.NO_STREAM,
        `no stream captures subject '${subject}'`,
        { cause: err },
      );
    }
    if (err.code === 'TIMEOUT') {
      return new PublishError(
        PublishErrorCode.TIMEOUT,
        `no PubAck for '${subject}' in time; retry with the same msgId`,
        {
          cause: err,
        },
      );
    }
    const apiErr = err.jsError();
    if (apiErr?.err_code !== undefined && EXPECTATION_ERR_CODES.has(apiErr.err_code)) {
      return new PublishError(
        PublishErrorCode.EXPECTATION_FAILED,
        `publish to '${subject}' rejected: ${apiErr.description}`,
        {
          cause: err,
        },
      );
    }
  }
  const message = err instanceof Error ? err.message : String(err);
  return new PublishError(
    PublishErrorCode.PUBLISH_FAILED,
    `publish to '${subject}' failed: ${message}`,
    { cause: err },
  );
}
