import type { DeadLetter, KeelNames } from '@keel/contracts';
import type { JetStreamClient } from 'nats';
import { RUN_ID_HEADER } from './headers';
import { publishJson, type PublishResult } from './publish';

/** Dead-letter codes the consumer loop itself produces (handlers add their own via `TerminalError`). */
export const DeadLetterCode = {
  /** The handler failed on the last allowed delivery. */
  HANDLER_FAILED: 'HANDLER_FAILED',
  /** The handler asked for a retry (`nak`) on the last allowed delivery. */
  RETRIES_EXHAUSTED: 'RETRIES_EXHAUSTED',
  /** The payload exceeded `maxPayloadBytes`; the handler was not called. */
  TOO_LARGE: 'TOO_LARGE',
} as const;

const MAX_REASON = 4000;

export interface DeadLetterSource {
  consumer: string;
  stream: string;
  subject: string;
  streamSequence: number;
  deliveries: number;
  data: Uint8Array;
  headers: Record<string, string>;
}

export function buildDeadLetter(
  src: DeadLetterSource,
  code: string,
  reason: string,
  traceId?: string,
  now: Date = new Date(),
): DeadLetter {
  const runId = src.headers[RUN_ID_HEADER];
  return {
    consumer: src.consumer,
    stream: src.stream,
    subject: src.subject,
    streamSequence: src.streamSequence,
    deliveries: src.deliveries,
    code,
    reason: reason.length > MAX_REASON ? `${reason.slice(0, MAX_REASON - 1)}…` : reason,
    payloadBase64: Buffer.from(src.data).toString('base64'),
    payloadBytes: src.data.byteLength,
    headers: src.headers,
    ...(runId ? { runId } : {}),
    ...(traceId ? { traceId } : {}),
    deadLetteredAt: now.toISOString(),
  };
}

/**
 * Publishes a dead letter to `<prefix>.dlq.<consumer>` and waits for the
 * PubAck. The msgId is `<stream>:<consumer>:<seq>`: a retried publish of the
 * same dead letter (after a timeout, or after a nak and redelivery) is stored
 * once, while two consumers of one stream giving up on the same message each
 * get their own entry. Throws `PublishError` on failure.
 */
export function publishDeadLetter(
  js: JetStreamClient,
  names: KeelNames,
  dl: DeadLetter,
): Promise<PublishResult> {
  const headers: Record<string, string> = { 'Keel-Dead-Letter-Code': dl.code };
  if (dl.runId) headers[RUN_ID_HEADER] = dl.runId;
  return publishJson(js, names.subjects.dlq.build(dl.consumer), dl, {
    msgId: `${dl.stream}:${dl.consumer}:${dl.streamSequence}`,
    headers,
    expect: { streamName: names.streams.dlq },
  });
}
