import {
  currentSchemaVersion,
  EventMetadata,
  validateNewEvent,
  type KeelEvent,
} from '@keel/contracts';
import { InvalidEventError } from './errors';
import type { NewEvent } from './types';

/** An event as it is stored: the parsed (validated) form of what the caller gave. */
export interface ValidEvent {
  readonly event: KeelEvent;
  readonly metadata: EventMetadata;
}

/** Validates one event of an append against its contract (`InvalidEventError` if it fails). */
export function validateForAppend(
  streamId: string,
  e: NewEvent<KeelEvent>,
  index: number,
): ValidEvent {
  try {
    return { event: validateNewEvent(e), metadata: EventMetadata.parse(e.metadata) };
  } catch (cause) {
    throw new InvalidEventError(streamId, index, String(e.type), { cause });
  }
}

/**
 * One element of the JSON document the append statements read with
 * `jsonb_to_recordset`: the events of a statement travel as one parameter,
 * serialised once, instead of one text[] per column that node-postgres
 * escapes element by element. Through `appendToStream` the two shapes cost the
 * same (`npm run bench:append`); this one takes three parameters instead of nine.
 */
export const eventRow = (v: ValidEvent) => ({
  event_id: v.metadata.eventId,
  type: v.event.type,
  schema_version: currentSchemaVersion(v.event.type),
  data: v.event.data,
  metadata: v.metadata,
});

/** `eventRow` with the 1-based number of the `appendMany` item it belongs to. */
export const itemEventRow = (v: ValidEvent, item: number) => ({
  item,
  event_id: v.metadata.eventId,
  type: v.event.type,
  schema_version: currentSchemaVersion(v.event.type),
  data: v.event.data,
  metadata: v.metadata,
});

/** The column list matching `eventRow` (without `item`), for `jsonb_to_recordset(...) AS (...)`. */
export const EVENT_ROW_COLUMNS =
  'event_id uuid, type text, schema_version int, data jsonb, metadata jsonb';
