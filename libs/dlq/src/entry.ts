/**
 * One row of the `dead_letters` table (infra/migrations/0004_dead_letters.sql):
 * an entry of the DLQ stream as the budget guard ingested it, plus what
 * operators did with it.
 */

export const DLQ_KINDS = ['dead_letter', 'max_deliveries', 'terminated'] as const;
/** `dead_letter`: a consumer's own entry; the others: JetStream's advisories. */
export type DlqKind = (typeof DLQ_KINDS)[number];

export const DLQ_STATUSES = ['open', 'redriven', 'discarded'] as const;
export type DlqStatus = (typeof DLQ_STATUSES)[number];

/** Codes the ingestion itself assigns (consumers' codes come with their dead letters). */
export const DlqCode = {
  /** JetStream stopped redelivering: `max_deliver` reached without an ack or term. */
  MAX_DELIVERIES: 'MAX_DELIVERIES',
  /** A consumer terminated the message (recorded alone only when no dead letter matches it). */
  TERMINATED: 'TERMINATED',
  /** The DLQ stream held something that is neither a dead letter nor an advisory. */
  UNREADABLE: 'UNREADABLE',
} as const;

/** Who resolves the second record of one failure at ingestion. */
export const INGEST_ACTOR = 'dlq-ingest';

/** An entry as ingestion records it. Unknown parts (an unreadable entry) are `null`. */
export interface NewDlqEntry {
  /** Sequence of the entry in the DLQ stream: the idempotency key of ingestion. */
  readonly dlqStreamSeq: number;
  readonly kind: DlqKind;
  readonly consumer: string;
  readonly stream: string | null;
  readonly subject: string | null;
  /** Sequence of the original message in `stream`. */
  readonly streamSeq: number | null;
  readonly deliveries: number | null;
  readonly code: string;
  readonly reason: string;
  readonly runId: string | null;
  readonly traceId: string | null;
  /** The original message's bytes; `null` when they could not be read. */
  readonly payload: Uint8Array | null;
  readonly headers: Readonly<Record<string, string>>;
  readonly deadLetteredAt: Date;
}

/** A row without its payload (what `list` returns). */
export interface DlqEntrySummary extends Omit<NewDlqEntry, 'payload'> {
  readonly id: number;
  readonly payloadBytes: number | null;
  readonly ingestedAt: Date;
  readonly status: DlqStatus;
  readonly resolvedAt: Date | null;
  readonly resolvedBy: string | null;
  readonly resolutionNote: string | null;
  readonly redriveCount: number;
  /** Set when ingestion recognised this as a second record of entry `duplicateOf`. */
  readonly duplicateOf: number | null;
}

/** A full row (what `show` returns). */
export interface DlqEntry extends DlqEntrySummary {
  readonly payload: Uint8Array | null;
}

export const isDlqStatus = (s: string): s is DlqStatus =>
  (DLQ_STATUSES as readonly string[]).includes(s);
