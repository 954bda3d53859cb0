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
  range: { fromVersion?: number; toVersion?: number } = {},
): Promise<RecordedEvent[]> {
  const from = range.fromVersion ?? 1;
  const to = range.toVersion ?? MAX_VERSION;
  for (const v of [from, to]) {
    if (!Number.isInteger(v) || v < 0 || v > MAX_VERSION) {
      throw new EventStoreArgumentError(`stream version bound out of range: ${v}`);
    }
  }
  const res = await q.query<EventRow>({
    name: 'keel_read_stream',
    text: READ_STREAM_SQL,
    values: [streamId, from, to],
  });
  return res.rows.map(toRecordedEvent);
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
