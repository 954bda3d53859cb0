import { currentSchemaVersion, type KeelEvent } from '@keel/contracts';
import { ConcurrencyError, DuplicateEventError, EventStoreArgumentError } from './errors';
import { EVENT_ROW_COLUMNS, eventRowsJson, validateForAppend } from './new-event-rows';
import { pgErrorFields } from './pg-errors';
import type { Queryable } from './queryable';
import type { AppendResult, NewEvent, RecordedEvent } from './types';
import { rememberWrittenJson } from './written-json';

interface AppendedRow {
  global_position: string;
  transaction_id: string;
  stream_version: number;
  created_at: Date;
}

/**
 * One statement for the whole batch. It inserts only when the stream is at
 * exactly $2 (0 rows otherwise), so versions stay gapless; two writers that
 * both pass the check collide on (stream_id, stream_version) instead. The
 * events are $3, one JSON document (`eventRowsJson`).
 */
const APPEND_SQL = `
WITH head AS (
  SELECT coalesce(max(stream_version), 0) AS version FROM events WHERE stream_id = $1
)
INSERT INTO events (event_id, stream_id, stream_version, type, schema_version, data, metadata)
SELECT e.event_id, $1, ($2::int + e.ord)::int, e.type, e.schema_version, e.data, e.metadata
FROM ROWS FROM (jsonb_to_recordset($3::jsonb) AS (${EVENT_ROW_COLUMNS}))
       WITH ORDINALITY AS e(event_id, type, schema_version, data, metadata, ord)
WHERE (SELECT version FROM head) = $2::int
ORDER BY e.ord
RETURNING global_position::text AS global_position, transaction_id::text AS transaction_id,
  stream_version, created_at`;

/**
 * The same append plus the inbox row of the message that caused it, in one
 * statement (one round trip, its own transaction when autocommitted). The
 * inbox row goes in only if the stream is at $2, and the events only if the
 * inbox row was new: a redelivered message writes nothing.
 */
const APPEND_WITH_INBOX_SQL = `
WITH head AS (
  SELECT coalesce(max(stream_version), 0) AS version FROM events WHERE stream_id = $1
), ib AS (
  INSERT INTO inbox (consumer, message_id)
  SELECT $4, $5 WHERE (SELECT version FROM head) = $2::int
  ON CONFLICT DO NOTHING
  RETURNING 1 AS ok
), ins AS (
  INSERT INTO events (event_id, stream_id, stream_version, type, schema_version, data, metadata)
  SELECT e.event_id, $1, ($2::int + e.ord)::int, e.type, e.schema_version, e.data, e.metadata
  FROM ROWS FROM (jsonb_to_recordset($3::jsonb) AS (${EVENT_ROW_COLUMNS}))
         WITH ORDINALITY AS e(event_id, type, schema_version, data, metadata, ord)
  WHERE EXISTS (SELECT 1 FROM ib)
  ORDER BY e.ord
  RETURNING global_position::text AS global_position, transaction_id::text AS transaction_id,
    stream_version, created_at
)
SELECT (SELECT version FROM head) AS head_version, (SELECT count(*) FROM ib)::int AS inbox_new,
  ins.global_position, ins.transaction_id, ins.stream_version, ins.created_at
FROM (SELECT 1) AS one LEFT JOIN ins ON true`;

/** The message whose handling this append records (see `appendToStream`). */
export interface InboxEntry {
  readonly consumer: string;
  readonly messageId: string;
}

/**
 * Append `events` to `streamId` if the stream is at `expectedVersion` (its
 * current version; 0 = the stream must not exist yet). All or nothing.
 *
 * Every event is validated against its contract first (`InvalidEventError`,
 * nothing written). A stale or ahead-of-stream `expectedVersion` throws
 * `ConcurrencyError`; an already-recorded `metadata.eventId` throws
 * `DuplicateEventError`. A unique violation aborts the surrounding
 * transaction, so on either error the caller must roll back.
 *
 * Ordering contract: per-stream version order equals the relay's order
 * (transaction id order) only if the transaction reads the stream versions it
 * appends against BEFORE its first write, because the transaction id is taken
 * at the first write. The handler template reads state first; code that
 * writes elsewhere first and then appends can be relayed out of version order.
 */
export async function appendToStream<E extends KeelEvent>(
  q: Queryable,
  streamId: string,
  expectedVersion: number,
  events: readonly NewEvent<E>[],
  options: { inbox?: InboxEntry } = {},
): Promise<AppendResult> {
  if (!streamId) throw new EventStoreArgumentError('streamId must not be empty');
  if (!Number.isInteger(expectedVersion) || expectedVersion < 0) {
    throw new EventStoreArgumentError(
      `expectedVersion must be an integer >= 0, got ${expectedVersion}`,
    );
  }
  const { inbox } = options;
  if (events.length === 0 && !inbox) return { nextExpectedVersion: expectedVersion, records: [] };

  const valid = events.map((e, index) => validateForAppend(streamId, e, index));
  const values = [streamId, expectedVersion, eventRowsJson(valid.map((v) => ({ v })))];
  let rows: AppendedRow[];
  try {
    if (inbox) {
      const res = await q.query<AppendedRow & { head_version: number; inbox_new: number }>({
        name: 'keel_append_inbox',
        text: APPEND_WITH_INBOX_SQL,
        values: [...values, inbox.consumer, inbox.messageId],
      });
      const first = res.rows[0]!;
      if (first.head_version !== expectedVersion)
        throw new ConcurrencyError(streamId, expectedVersion);
      if (first.inbox_new === 0)
        return { nextExpectedVersion: expectedVersion, records: [], duplicate: true };
      rows = res.rows.filter((r) => r.stream_version !== null);
    } else {
      const res = await q.query<AppendedRow>({ name: 'keel_append', text: APPEND_SQL, values });
      rows = res.rows;
    }
  } catch (err) {
    if (err instanceof ConcurrencyError) throw err;
    const { code, constraint, detail } = pgErrorFields(err);
    if (code === '23505' && constraint === 'events_stream_version_unique') {
      throw new ConcurrencyError(streamId, expectedVersion, { cause: err });
    }
    if (code === '23505' && constraint === 'events_event_id_unique') {
      const eventId = /\(event_id\)=\(([^)]+)\)/.exec(detail ?? '')?.[1];
      throw new DuplicateEventError(streamId, eventId, { cause: err });
    }
    throw err;
  }
  if (rows.length !== valid.length) throw new ConcurrencyError(streamId, expectedVersion);

  const byVersion = new Map(rows.map((r) => [r.stream_version, r]));
  const records = valid.map(({ event, metadata, dataJson, metadataJson }, i): RecordedEvent => {
    const row = byVersion.get(expectedVersion + i + 1)!;
    return rememberWrittenJson(
      {
        ...event,
        metadata,
        globalPosition: BigInt(row.global_position),
        transactionId: row.transaction_id,
        streamId,
        streamVersion: row.stream_version,
        schemaVersion: currentSchemaVersion(event.type),
        createdAt: row.created_at,
      },
      { dataJson, metadataJson },
    );
  });
  return { nextExpectedVersion: expectedVersion + events.length, records };
}
