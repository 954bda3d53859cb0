import {
  currentSchemaVersion,
  EventMetadata,
  validateNewEvent,
  type KeelEvent,
} from '@keel/contracts';
import { InvalidEventError } from './errors';
import type { NewEvent } from './types';

/**
 * An event as it is stored: the parsed (validated) form of what the caller
 * gave, with its `data` and `metadata` serialised once, here, for both the
 * statement and (through `writtenJsonOf`) the writer's publish.
 */
export interface ValidEvent {
  readonly event: KeelEvent;
  readonly metadata: EventMetadata;
  readonly dataJson: string;
  readonly metadataJson: string;
}

/** Validates one event of an append against its contract (`InvalidEventError` if it fails). */
export function validateForAppend(
  streamId: string,
  e: NewEvent<KeelEvent>,
  index: number,
): ValidEvent {
  let event: KeelEvent;
  let metadata: EventMetadata;
  try {
    event = validateNewEvent(e);
    metadata = EventMetadata.parse(e.metadata);
  } catch (cause) {
    throw new InvalidEventError(streamId, index, String(e.type), { cause });
  }
  return {
    event,
    metadata,
    dataJson: JSON.stringify(event.data),
    metadataJson: JSON.stringify(metadata),
  };
}

/**
 * The JSON document the append statements read with `jsonb_to_recordset`:
 * the events of a statement travel as one parameter, instead of one text[]
 * per column that node-postgres escapes element by element. Through
 * `appendToStream` the two shapes cost the same (`npm run bench:append`); this
 * one takes three parameters instead of nine. Each element is
 * `{item?, event_id, type, schema_version, data, metadata}`, spliced from the
 * event's serialised parts; `item` (`appendMany`) is the 1-based number of the
 * item the event belongs to.
 */
export function eventRowsJson(rows: readonly { v: ValidEvent; item?: number }[]): string {
  const parts = rows.map(
    ({ v, item }) =>
      `{${item === undefined ? '' : `"item":${item},`}"event_id":${JSON.stringify(v.metadata.eventId)},` +
      `"type":${JSON.stringify(v.event.type)},"schema_version":${currentSchemaVersion(v.event.type)},` +
      `"data":${v.dataJson},"metadata":${v.metadataJson}}`,
  );
  return `[${parts.join(',')}]`;
}

/** The column list of an `eventRowsJson` element (without `item`), for `jsonb_to_recordset(...) AS (...)`. */
export const EVENT_ROW_COLUMNS =
  'event_id uuid, type text, schema_version int, data jsonb, metadata jsonb';
