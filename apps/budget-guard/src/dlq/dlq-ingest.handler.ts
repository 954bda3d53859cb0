import { NatsError, type JetStreamManager } from 'nats';
import type { Pool } from 'pg';
import type { KeelNames } from '@keel/contracts';
import { recordDlqEntry, type NewDlqEntry } from '@keel/dlq';
import {
  describeError,
  headersToRecord,
  RetryableError,
  type Disposition,
  type InboundMessage,
  type MessagingLogger,
} from '@keel/messaging';
import {
  advisoryEntry,
  classifyDlqMessage,
  type JetStreamAdvisory,
  type Original,
} from './classify';

export interface DlqIngestDeps {
  readonly pool: Pool;
  readonly jsm: JetStreamManager;
  readonly names: KeelNames;
  readonly log: MessagingLogger;
  /**
   * Deliveries during which a failure to read an advisory's original message
   * (other than "not there") is retried; after that the advisory is recorded
   * without it. Default 5.
   */
  readonly originalReadAttempts?: number;
}

/**
 * Ingests one entry of the DLQ stream into `dead_letters` (once per DLQ
 * sequence; see `recordDlqEntry` for how the two records of one failure are
 * matched). For a JetStream advisory, the original message is read from its
 * stream by sequence, best effort: a work-queue message a consumer terminated
 * is gone, and so is anything past the stream's retention.
 *
 * Never terminates: unreadable entries are recorded as `UNREADABLE`; a
 * database failure throws, and the entry is redelivered with backoff.
 */
export function dlqIngestHandler(deps: DlqIngestDeps) {
  const attempts = deps.originalReadAttempts ?? 5;
  return async (msg: InboundMessage): Promise<Disposition> => {
    const now = new Date();
    const classified = classifyDlqMessage(
      {
        subject: msg.subject,
        data: msg.data,
        headers: msg.headers,
        dlqStreamSeq: msg.streamSequence,
      },
      deps.names,
      now,
    );
    let entry: NewDlqEntry;
    if (classified.kind === 'entry') {
      entry = classified.entry;
    } else {
      const original = await readOriginal(deps.jsm, classified.advisory, msg.deliveries < attempts);
      entry = advisoryEntry(msg.streamSequence, classified.advisory, original, deps.names, now);
    }
    const result = await recordDlqEntry(deps.pool, entry);
    if (result.inserted) {
      deps.log.info(
        {
          dlqId: result.id,
          dlqStreamSeq: entry.dlqStreamSeq,
          kind: entry.kind,
          code: entry.code,
          consumer: entry.consumer,
          stream: entry.stream ?? undefined,
          streamSeq: entry.streamSeq ?? undefined,
          runId: entry.runId ?? undefined,
          duplicateOf: result.duplicateOf ?? undefined,
          superseded: result.superseded.length > 0 ? result.superseded : undefined,
        },
        result.duplicateOf === null
          ? 'dead letter recorded'
          : 'dead letter recorded as a duplicate',
      );
    }
    return { kind: 'ack' };
  };
}

async function readOriginal(
  jsm: JetStreamManager,
  a: JetStreamAdvisory,
  retry: boolean,
): Promise<Original> {
  try {
    const m = await jsm.streams.getMessage(a.stream, { seq: a.stream_seq });
    return { found: true, subject: m.subject, data: m.data, headers: headersToRecord(m.header) };
  } catch (err) {
    const api = err instanceof NatsError ? err.jsError() : undefined;
    // 10037 no message found; 10059 stream not found.
    if (api?.err_code === 10037 || api?.err_code === 10059) {
      return { found: false, why: `the original message is no longer in ${a.stream}` };
    }
    const e = describeError(err);
    if (retry) {
      throw new RetryableError(
        `reading ${a.stream} seq ${a.stream_seq} failed: ${e.name}: ${e.message}`,
        { cause: err },
      );
    }
    return { found: false, why: `the original message could not be read (${e.message})` };
  }
}
