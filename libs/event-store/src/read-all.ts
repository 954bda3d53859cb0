import { EventStoreArgumentError } from './errors';
import { EVENT_COLUMNS, toRawEvent, toRecordedEvent, type EventRow } from './event-rows';
import type { Queryable } from './queryable';
import type { Checkpoint, RawRecordedEvent, RecordedEvent } from './types';

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
const READ_ALL_SQL = `SELECT ${EVENT_COLUMNS} FROM events
WHERE transaction_id < pg_snapshot_xmin(pg_current_snapshot())
  AND (transaction_id, global_position) > ($1::xid8, $2::bigint)
ORDER BY events.transaction_id, events.global_position
LIMIT $3`;
// The ORDER BY is qualified on purpose: EVENT_COLUMNS aliases both columns to
// their ::text form, and an unqualified name would sort by the alias — as
// text, where '100' < '99'. (Found by the relay correctness e2e test.)

async function readRows(q: Queryable, after: Checkpoint, limit: number): Promise<EventRow[]> {
  if (!Number.isInteger(limit) || limit < 1) {
    throw new EventStoreArgumentError(`limit must be a positive integer, got ${limit}`);
  }
  const res = await q.query<EventRow>({
    name: 'keel_read_all',
    text: READ_ALL_SQL,
    values: [after.transactionId, after.globalPosition, limit],
  });
  return res.rows;
}

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
  return (await readRows(q, after, limit)).map(toRecordedEvent);
}

/** As `readAll`, but events exactly as stored (not upcast or validated): for the relay. */
export async function readAllRaw(
  q: Queryable,
  after: Checkpoint,
  limit: number,
): Promise<RawRecordedEvent[]> {
  return (await readRows(q, after, limit)).map(toRawEvent);
}
