import type { Queryable } from './queryable';
import { START_CHECKPOINT, type Checkpoint } from './types';

/** The saved checkpoint named `name`, or `START_CHECKPOINT` if none was saved. */
export async function loadCheckpoint(q: Queryable, name: string): Promise<Checkpoint> {
  const res = await q.query<{ transaction_id: string; global_position: string }>({
    name: 'keel_load_checkpoint',
    text: `SELECT transaction_id::text AS transaction_id, global_position::text AS global_position
           FROM checkpoints WHERE name = $1`,
    values: [name],
  });
  const row = res.rows[0];
  if (!row) return START_CHECKPOINT;
  return { transactionId: row.transaction_id, globalPosition: row.global_position };
}

/**
 * Save (insert or overwrite) checkpoint `name`. Not guarded against moving
 * backwards: a reset is allowed, and a stale writer only causes re-delivery.
 */
export async function saveCheckpoint(
  q: Queryable,
  name: string,
  checkpoint: Checkpoint,
): Promise<void> {
  await q.query({
    name: 'keel_save_checkpoint',
    text: `INSERT INTO checkpoints (name, transaction_id, global_position, updated_at)
           VALUES ($1, $2::xid8, $3::bigint, now())
           ON CONFLICT (name) DO UPDATE
           SET transaction_id = excluded.transaction_id,
               global_position = excluded.global_position,
               updated_at = excluded.updated_at`,
    values: [name, checkpoint.transactionId, checkpoint.globalPosition],
  });
}

/**
 * A checkpoint at or before `checkpoint` behind which every event is at least
 * `ageMs` old (by its transaction's start, PostgreSQL's clock): a reader that
 * resumes from it reads the last `ageMs` of the log again. `START_CHECKPOINT`
 * when the whole log up to `checkpoint` is younger. Walks the commit-order
 * index backwards from `checkpoint`, so it costs the events it passes over.
 */
export async function checkpointAgedBefore(
  q: Queryable,
  checkpoint: Checkpoint,
  ageMs: number,
): Promise<Checkpoint> {
  const res = await q.query<{ transaction_id: string; global_position: string }>({
    name: 'keel_checkpoint_aged_before',
    text: `SELECT transaction_id::text AS transaction_id, global_position::text AS global_position
           FROM events
           WHERE (transaction_id, global_position) <= ($1::xid8, $2::bigint)
             AND created_at < now() - make_interval(secs => $3::double precision / 1000)
           ORDER BY transaction_id DESC, global_position DESC
           LIMIT 1`,
    values: [checkpoint.transactionId, checkpoint.globalPosition, ageMs],
  });
  const row = res.rows[0];
  if (!row) return START_CHECKPOINT;
  return { transactionId: row.transaction_id, globalPosition: row.global_position };
}
