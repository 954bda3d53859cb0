import { currentSchemaVersion, type KeelEvent } from '@keel/contracts';
import { ConcurrencyError } from './errors';
import { EVENT_ROW_COLUMNS, eventRowsJson, validateForAppend } from './new-event-rows';
import type { Queryable } from './queryable';
import type { AppendResult, NewEvent, RecordedEvent } from './types';
import type { InboxEntry } from './append';
import { rememberWrittenJson } from './written-json';

/**
 * Appends to several streams in ONE statement (one round trip, one commit):
 * each item inserts only if its stream is at its expected version, so items
 * are independent — a stale item gets `ConcurrencyError` while the others are
 * written. Two writers racing on the same stream collide on the unique
 * (stream_id, stream_version) constraint, which fails the whole statement:
 * the caller then appends the items one by one (`appendToStream`).
 *
 * Per-stream order is kept: positions are assigned in item/event order.
 * Items are $1 and their events $2, each one JSON document (`eventRowsJson`).
 */
const APPEND_MANY_SQL = `
WITH items AS (
  SELECT i.stream_id, i.expected, i.consumer, i.message_id, i.item
  FROM ROWS FROM (jsonb_to_recordset($1::jsonb)
         AS (stream_id text, expected int, consumer text, message_id text))
    WITH ORDINALITY AS i(stream_id, expected, consumer, message_id, item)
), heads AS (
  SELECT it.*,
    coalesce((SELECT max(e.stream_version) FROM events e WHERE e.stream_id = it.stream_id), 0) AS version
  FROM items it
), ib AS (
  INSERT INTO inbox (consumer, message_id)
  SELECT h.consumer, h.message_id FROM heads h WHERE h.consumer IS NOT NULL AND h.version = h.expected
  ON CONFLICT DO NOTHING
  RETURNING consumer, message_id
), ok AS (
  SELECT h.item FROM heads h
  WHERE h.version = h.expected
    AND (h.consumer IS NULL OR EXISTS (SELECT 1 FROM ib WHERE ib.consumer = h.consumer AND ib.message_id = h.message_id))
), ev AS (
  SELECT * FROM ROWS FROM (jsonb_to_recordset($2::jsonb) AS (item int, ${EVENT_ROW_COLUMNS}))
    WITH ORDINALITY AS ev(item, event_id, type, schema_version, data, metadata, ord)
), ins AS (
  INSERT INTO events (event_id, stream_id, stream_version, type, schema_version, data, metadata)
  SELECT ev.event_id, h.stream_id,
    (h.expected + row_number() OVER (PARTITION BY ev.item ORDER BY ev.ord))::int,
    ev.type, ev.schema_version, ev.data, ev.metadata
  FROM ev JOIN heads h ON h.item = ev.item
  WHERE ev.item IN (SELECT item FROM ok)
  ORDER BY ev.ord
  RETURNING stream_id, stream_version, global_position::text AS global_position,
    transaction_id::text AS transaction_id, created_at
)
SELECT 'event' AS kind, NULL::bigint AS item, stream_id, stream_version, global_position, transaction_id, created_at
FROM ins
UNION ALL
SELECT 'head', h.item, h.stream_id, h.version, NULL, NULL, NULL FROM heads h
UNION ALL
SELECT 'ok', ok.item, NULL, NULL, NULL, NULL, NULL FROM ok`;

export interface AppendItem<E extends KeelEvent = KeelEvent> {
  readonly streamId: string;
  readonly expectedVersion: number;
  readonly events: readonly NewEvent<E>[];
  /** Recorded with the events; a message already in the inbox makes the item a duplicate. */
  readonly inbox?: InboxEntry;
}

interface Row {
  kind: 'event' | 'head' | 'ok';
  item: string | null;
  stream_id: string;
  stream_version: number;
  global_position: string;
  transaction_id: string;
  created_at: Date;
}

/** One result per item, in item order: the append's result, or the error for that item. */
export async function appendMany(
  q: Queryable,
  items: readonly AppendItem[],
): Promise<(AppendResult | Error)[]> {
  const valid = items.map((item) =>
    item.events.map((e, index) => validateForAppend(item.streamId, e, index)),
  );
  const res = await q.query<Row>({
    name: 'keel_append_many',
    text: APPEND_MANY_SQL,
    values: [
      JSON.stringify(
        items.map((i) => ({
          stream_id: i.streamId,
          expected: i.expectedVersion,
          consumer: i.inbox?.consumer ?? null,
          message_id: i.inbox?.messageId ?? null,
        })),
      ),
      eventRowsJson(valid.flatMap((events, i) => events.map((v) => ({ v, item: i + 1 })))),
    ],
  });
  const byStream = new Map<string, Row[]>();
  const heads = new Map<number, number>();
  const ok = new Set<number>();
  for (const r of res.rows) {
    if (r.kind === 'event') byStream.set(r.stream_id, [...(byStream.get(r.stream_id) ?? []), r]);
    else if (r.kind === 'head') heads.set(Number(r.item), r.stream_version);
    else ok.add(Number(r.item));
  }
  return items.map((item, i): AppendResult | Error => {
    const events = valid[i]!;
    if (heads.get(i + 1) !== item.expectedVersion)
      return new ConcurrencyError(item.streamId, item.expectedVersion);
    if (!ok.has(i + 1))
      return { nextExpectedVersion: item.expectedVersion, records: [], duplicate: true };
    if (events.length === 0) return { nextExpectedVersion: item.expectedVersion, records: [] };
    const rows = (byStream.get(item.streamId) ?? []).filter(
      (r) =>
        r.stream_version > item.expectedVersion &&
        r.stream_version <= item.expectedVersion + events.length,
    );
    if (rows.length !== events.length)
      return new ConcurrencyError(item.streamId, item.expectedVersion);
    const byVersion = new Map(rows.map((r) => [r.stream_version, r]));
    const records = events.map(({ event, metadata, dataJson, metadataJson }, k): RecordedEvent => {
      const row = byVersion.get(item.expectedVersion + k + 1)!;
      return rememberWrittenJson(
        {
          ...event,
          metadata,
          globalPosition: BigInt(row.global_position),
          transactionId: row.transaction_id,
          streamId: item.streamId,
          streamVersion: row.stream_version,
          schemaVersion: currentSchemaVersion(event.type),
          createdAt: row.created_at,
        },
        { dataJson, metadataJson },
      );
    });
    return { nextExpectedVersion: item.expectedVersion + events.length, records };
  });
}
