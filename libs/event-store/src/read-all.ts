import { EventStoreArgumentError } from './errors';
import { EVENT_COLUMNS, toRawEvent, toRecordedEvent, type EventRow } from './event-rows';
import type { Queryable } from './queryable';
import type {
  Checkpoint,
  LoggedEventId,
  RawRecordedEvent,
  RecordedEvent,
  StoredEventJson,
} from './types';

/**
 * The log in commit order, after `$1/$2`, up to the snapshot's horizon.
 *
 * Why not `global_position > cursor`: positions are taken at insert, not at
 * commit, so a transaction that inserted earlier but commits later would land
 * behind a cursor that already moved past it, and be skipped forever.
 * Instead: only rows whose transaction id is below the snapshot's xmin are
 * returned (every such transaction has finished, and no new transaction can
 * get an id that low), ordered by (transaction id, position). So a row is
 * returned only once everything before it in that order is final.
 *
 * Consequence: any open transaction in the cluster that took its id early
 * holds back the horizon; readers see nothing past it until it ends. Keep
 * transactions short.
 */
const AFTER_CHECKPOINT_IN_COMMIT_ORDER = `FROM events
WHERE transaction_id < pg_snapshot_xmin(pg_current_snapshot())
  AND (transaction_id, global_position) > ($1::xid8, $2::bigint)
ORDER BY events.transaction_id, events.global_position
LIMIT $3`;
const READ_ALL_SQL = `SELECT ${EVENT_COLUMNS} ${AFTER_CHECKPOINT_IN_COMMIT_ORDER}`;
// The ORDER BY is qualified on purpose: EVENT_COLUMNS aliases both columns to
// their ::text form, and an unqualified name would sort by the alias — as
// text, where '100' < '99'. (Found by the relay correctness e2e test.)

/**
 * An event's row with data and metadata as text, plus the metadata fields the
 * relay routes by. `created_at` is formatted as `Date#toISOString` does
 * (milliseconds, truncated).
 */
const JSON_COLUMNS = `global_position::text AS global_position,
  transaction_id::text AS transaction_id, stream_id, stream_version, type, schema_version,
  data::text AS data_json, metadata::text AS metadata_json,
  metadata->>'eventId' AS event_id, metadata->>'correlationId' AS correlation_id, metadata->>'tenant' AS tenant,
  metadata->>'traceparent' AS traceparent, metadata->>'tracestate' AS tracestate,
  to_char(created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"') AS recorded_at`;

/** Only where each event is and its id: what the relay needs to check the stream holds it. */
const READ_ALL_IDS_SQL = `SELECT global_position::text AS global_position,
  transaction_id::text AS transaction_id, event_id::text AS event_id
${AFTER_CHECKPOINT_IN_COMMIT_ORDER}`;

/** Whole rows of the events at these positions, data and metadata as text, in commit order. */
const READ_AT_POSITIONS_JSON_SQL = `SELECT ${JSON_COLUMNS} FROM events
WHERE global_position = ANY($1::bigint[])
ORDER BY events.transaction_id, events.global_position`;

/** An `EventRow` with data, metadata and the creation time as text, plus the routed metadata fields. */
interface JsonRow extends Omit<EventRow, 'data' | 'metadata' | 'created_at'> {
  data_json: string;
  metadata_json: string;
  event_id: string;
  correlation_id: string | null;
  tenant: string | null;
  traceparent: string | null;
  tracestate: string | null;
  recorded_at: string;
}

async function readRows<R extends object>(
  q: Queryable,
  statement: { name: string; text: string },
  after: Checkpoint,
  limit: number,
): Promise<R[]> {
  if (!Number.isInteger(limit) || limit < 1) {
    throw new EventStoreArgumentError(`limit must be a positive integer, got ${limit}`);
  }
  const res = await q.query<R>({
    ...statement,
    values: [after.transactionId, after.globalPosition, limit],
  });
  return res.rows;
}

const READ_ALL = { name: 'keel_read_all', text: READ_ALL_SQL };
const READ_ALL_IDS = { name: 'keel_read_all_ids', text: READ_ALL_IDS_SQL };

/**
 * Up to `limit` events after `after`, in commit order, upcast to the current
 * shape. Resume from `checkpointAfter(lastEvent)`. Throws `EventReadError` on
 * an event this build cannot read.
 */
export async function readAll(
  q: Queryable,
  after: Checkpoint,
  limit: number,
): Promise<RecordedEvent[]> {
  return (await readRows<EventRow>(q, READ_ALL, after, limit)).map(toRecordedEvent);
}

/** As `readAll`, but events exactly as stored (not upcast or validated), parsed. */
export async function readAllRaw(
  q: Queryable,
  after: Checkpoint,
  limit: number,
): Promise<RawRecordedEvent[]> {
  return (await readRows<EventRow>(q, READ_ALL, after, limit)).map(toRawEvent);
}

/** As `readAll`, but only each event's position and id (cheap: no data, no metadata). */
export async function readAllIds(
  q: Queryable,
  after: Checkpoint,
  limit: number,
): Promise<LoggedEventId[]> {
  const rows = await readRows<{
    global_position: string;
    transaction_id: string;
    event_id: string;
  }>(q, READ_ALL_IDS, after, limit);
  return rows.map((r) => ({
    globalPosition: BigInt(r.global_position),
    transactionId: r.transaction_id,
    eventId: r.event_id,
  }));
}

/**
 * The events at these global positions, with data and metadata as the stored
 * JSON text (what the relay forwards: parsing it only to serialise it again
 * was wasted work), in commit order.
 */
export async function readAtPositionsJson(
  q: Queryable,
  positions: readonly bigint[],
): Promise<StoredEventJson[]> {
  if (positions.length === 0) return [];
  const res = await q.query<JsonRow>({
    name: 'keel_read_at_positions_json',
    text: READ_AT_POSITIONS_JSON_SQL,
    values: [positions.map(String)],
  });
  return res.rows.map(toStoredEventJson);
}

function toStoredEventJson(r: JsonRow): StoredEventJson {
  return {
    globalPosition: BigInt(r.global_position),
    transactionId: r.transaction_id,
    streamId: r.stream_id,
    streamVersion: r.stream_version,
    type: r.type,
    schemaVersion: r.schema_version,
    dataJson: r.data_json,
    metadataJson: r.metadata_json,
    eventId: r.event_id,
    correlationId: r.correlation_id,
    tenant: r.tenant,
    traceparent: r.traceparent,
    tracestate: r.tracestate,
    recordedAt: r.recorded_at,
  };
}
