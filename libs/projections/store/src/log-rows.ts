import {
  EVENT_COLUMNS,
  toRecordedEvent,
  type EventRow,
  type Queryable,
  type RecordedEvent,
} from '@keel/event-store';

/**
 * Reads of the `events` table the read side needs and the event store does
 * not offer: a run's events across all its streams, and the whole log in
 * commit order WITHOUT the relay's snapshot horizon (a rebuild in one
 * repeatable-read snapshot must fold every event it can see). Rows are read
 * like the store's own reads (`EVENT_COLUMNS`, `toRecordedEvent`): an event
 * this build cannot read throws `EventReadError`, nothing is skipped.
 */

/** A log position in commit order: (transaction id, global position), both decimal strings. */
export interface LogCursor {
  readonly transactionId: string;
  readonly globalPosition: string;
}

export const LOG_START: LogCursor = { transactionId: '0', globalPosition: '0' };

export const cursorOf = (e: RecordedEvent): LogCursor => ({
  transactionId: e.transactionId,
  globalPosition: e.globalPosition.toString(),
});

/** Up to `limit` visible events after `after`, in commit order. */
export async function readLogPage(
  q: Queryable,
  after: LogCursor,
  limit: number,
): Promise<RecordedEvent[]> {
  const { rows } = await q.query<EventRow>(
    `SELECT ${EVENT_COLUMNS} FROM events
      WHERE (transaction_id, global_position) > ($1::xid8, $2::bigint)
      ORDER BY events.transaction_id, events.global_position LIMIT $3`,
    [after.transactionId, after.globalPosition, limit],
  );
  return rows.map(toRecordedEvent);
}

/**
 * A run's events across all its streams, in commit order, after `after`.
 * `settledOnly`: only events below the snapshot's xmin — every transaction
 * that could still commit an event ordered before them has ended — so a
 * follower that resumes from the last one returned never skips an event that
 * commits late (the relay's rule, see libs/event-store read-all.ts).
 */
export async function readRunEvents(
  q: Queryable,
  runId: string,
  opts: { after?: LogCursor; limit?: number; settledOnly?: boolean } = {},
): Promise<RecordedEvent[]> {
  const after = opts.after ?? LOG_START;
  const { rows } = await q.query<EventRow>(
    `SELECT ${EVENT_COLUMNS} FROM events
      WHERE metadata->>'correlationId' = $1
        AND (transaction_id, global_position) > ($2::xid8, $3::bigint)
        ${opts.settledOnly ? 'AND transaction_id < pg_snapshot_xmin(pg_current_snapshot())' : ''}
      ORDER BY events.transaction_id, events.global_position LIMIT $4`,
    [runId, after.transactionId, after.globalPosition, opts.limit ?? 10_000],
  );
  return rows.map(toRecordedEvent);
}

/** The tenant a run's events were recorded for, or undefined when the log has none of it. */
export async function runTenantInLog(q: Queryable, runId: string): Promise<string | undefined> {
  const { rows } = await q.query<{ tenant: string }>(
    `SELECT metadata->>'tenant' AS tenant FROM events
      WHERE metadata->>'correlationId' = $1 AND type = 'RunRequested' LIMIT 1`,
    [runId],
  );
  return rows[0]?.tenant;
}
