import type { EventMetadata, KeelEvent } from '@keel/contracts';

/** An event to append, in the current shape of its type (`E` narrows it for generic callers). */
export type NewEvent<E extends KeelEvent = KeelEvent> = E & { metadata: EventMetadata };

interface RecordedFields {
  /** Insert order across the whole log (not commit order; see `readAll`). */
  globalPosition: bigint;
  /** The writing transaction's id (xid8) as a decimal string. */
  transactionId: string;
  streamId: string;
  /** 1-based, gapless within the stream. */
  streamVersion: number;
  /** The schema version the event was stored with (data is already upcast). */
  schemaVersion: number;
  metadata: EventMetadata;
  createdAt: Date;
}

/** Distributes over the union so `type` narrows `data` as in `KeelEvent`. */
type Recorded<E> = E extends KeelEvent ? RecordedFields & E : never;

/** A stored event with its data upcast to the current shape. */
export type RecordedEvent = Recorded<KeelEvent>;

/**
 * A stored event exactly as written: type, schema version and data untouched
 * (not upcast, not validated). For the relay, which forwards stored JSON.
 */
export interface RawRecordedEvent extends Omit<RecordedFields, 'metadata'> {
  type: string;
  data: unknown;
  metadata: Record<string, unknown>;
}

/**
 * A stored event as the relay forwards it: data and metadata as the JSON text
 * PostgreSQL stores (never parsed and re-serialised), plus the metadata fields
 * the relay routes and labels by.
 */
export interface StoredEventJson {
  globalPosition: bigint;
  transactionId: string;
  streamId: string;
  streamVersion: number;
  type: string;
  schemaVersion: number;
  /** `data` as stored (jsonb's text form). */
  dataJson: string;
  /** `metadata` as stored (jsonb's text form). */
  metadataJson: string;
  /** `metadata.eventId`: the `Nats-Msg-Id`, exactly as the fast path sends it. */
  eventId: string;
  correlationId: string | null;
  tenant: string | null;
  traceparent: string | null;
  tracestate: string | null;
  /** `created_at` in `Date#toISOString` form (millisecond precision, UTC). */
  recordedAt: string;
}

/** Where an event is in commit order, and its id (`readAllIds`). */
export interface LoggedEventId {
  globalPosition: bigint;
  transactionId: string;
  eventId: string;
}

/**
 * A reader's position in commit order: the last (transaction id, global
 * position) it has handled, both as decimal strings (they exceed 2^53).
 */
export interface Checkpoint {
  transactionId: string;
  globalPosition: string;
}

/** Before the first event. */
export const START_CHECKPOINT: Checkpoint = Object.freeze({
  transactionId: '0',
  globalPosition: '0',
});

/** The checkpoint just after `event`. */
export const checkpointAfter = (event: {
  transactionId: string;
  globalPosition: bigint;
}): Checkpoint => ({
  transactionId: event.transactionId,
  globalPosition: event.globalPosition.toString(),
});

/** What `appendToStream` returns. */
export interface AppendResult {
  /** The stream's version after the append: pass it as the next `expectedVersion`. */
  nextExpectedVersion: number;
  records: RecordedEvent[];
  /** With an inbox entry: the message was already handled, nothing was written. */
  duplicate?: boolean;
}
