import { upcastEvent, type EventMetadata } from '@keel/contracts';
import { EventReadError } from './errors';
import type { RawRecordedEvent, RecordedEvent } from './types';

/** The columns every event read selects, in the shape `EventRow` expects. */
export const EVENT_COLUMNS = `global_position::text AS global_position,
  transaction_id::text AS transaction_id, stream_id, stream_version, type,
  schema_version, data, metadata, created_at`;

export interface EventRow {
  global_position: string;
  transaction_id: string;
  stream_id: string;
  stream_version: number;
  type: string;
  schema_version: number;
  data: unknown;
  metadata: Record<string, unknown>;
  created_at: Date;
}

export function toRawEvent(row: EventRow): RawRecordedEvent {
  return {
    globalPosition: BigInt(row.global_position),
    transactionId: row.transaction_id,
    streamId: row.stream_id,
    streamVersion: row.stream_version,
    type: row.type,
    schemaVersion: row.schema_version,
    data: row.data,
    metadata: row.metadata,
    createdAt: row.created_at,
  };
}

/**
 * Upcast a stored row to the current shape. Never skips: an event this build
 * cannot read throws `EventReadError` (cause: the contracts error).
 */
export function toRecordedEvent(row: EventRow): RecordedEvent {
  const raw = toRawEvent(row);
  let event;
  try {
    event = upcastEvent(raw.type, raw.schemaVersion, raw.data);
  } catch (cause) {
    throw new EventReadError(raw.globalPosition, raw.streamId, raw.type, raw.schemaVersion, {
      cause,
    });
  }
  // Metadata was validated on append and has no versions; it is trusted here.
  return { ...raw, ...event, metadata: raw.metadata as EventMetadata };
}
