import { EventStoreArgumentError } from './errors';
import { EVENT_COLUMNS, toRecordedEvent, type EventRow } from './event-rows';
import type { Queryable } from './queryable';
import type { RecordedEvent } from './types';

const MAX_VERSION = 2_147_483_647;

const READ_STREAM_SQL = `SELECT ${EVENT_COLUMNS} FROM events
WHERE stream_id = $1 AND stream_version BETWEEN $2 AND $3
ORDER BY stream_version`;

/**
 * The events of one stream in version order, upcast to the current shape,
 * between `fromVersion` and `toVersion` inclusive (default: all). An event
 * this build cannot read throws `EventReadError`; nothing is skipped.
 */
export async function readStream(
  q: Queryable,
  streamId: string,
  range: VersionRange = {},
): Promise<RecordedEvent[]> {
  const [from, to] = boundsOf(range);
  const res = await q.query<EventRow>({
    name: 'keel_read_stream',
    text: READ_STREAM_SQL,
    values: [streamId, from, to],
  });
  return res.rows.map(toRecordedEvent);
}

/** Versions `fromVersion`..`toVersion` inclusive; both optional (default: the whole stream). */
export interface VersionRange {
  readonly fromVersion?: number;
  readonly toVersion?: number;
}

export interface StreamRead extends VersionRange {
  readonly streamId: string;
}

const READ_STREAMS_SQL = `SELECT r.ord::int AS read_index, e.*
FROM unnest($1::text[], $2::int[], $3::int[]) WITH ORDINALITY AS r(sid, from_v, to_v, ord)
CROSS JOIN LATERAL (
  SELECT ${EVENT_COLUMNS} FROM events
  WHERE stream_id = r.sid AND stream_version BETWEEN r.from_v AND r.to_v
) AS e
ORDER BY r.ord, e.stream_version`;

/**
 * Several `readStream`s in one statement (one round trip): the result's i-th
 * entry is what `readStream(reads[i])` returns. The same stream may be read
 * more than once. Reads see one snapshot of the log.
 */
export async function readStreams(
  q: Queryable,
  reads: readonly StreamRead[],
): Promise<RecordedEvent[][]> {
  const out: RecordedEvent[][] = reads.map(() => []);
  if (reads.length === 0) return out;
  const bounds = reads.map(boundsOf);
  const res = await q.query<EventRow & { read_index: number }>({
    name: 'keel_read_streams',
    text: READ_STREAMS_SQL,
    values: [reads.map((r) => r.streamId), bounds.map((b) => b[0]), bounds.map((b) => b[1])],
  });
  for (const row of res.rows) out[row.read_index - 1]!.push(toRecordedEvent(row));
  return out;
}

function boundsOf(range: VersionRange): [number, number] {
  const from = range.fromVersion ?? 1;
  const to = range.toVersion ?? MAX_VERSION;
  for (const v of [from, to]) {
    if (!Number.isInteger(v) || v < 0 || v > MAX_VERSION) {
      throw new EventStoreArgumentError(`stream version bound out of range: ${v}`);
    }
  }
  return [from, to];
}

/** The stream's current version: its last event's version, 0 if it has none. */
export async function streamVersion(q: Queryable, streamId: string): Promise<number> {
  const res = await q.query<{ version: number }>({
    name: 'keel_stream_version',
    text: 'SELECT coalesce(max(stream_version), 0) AS version FROM events WHERE stream_id = $1',
    values: [streamId],
  });
  return res.rows[0]!.version;
}
