import type { Queryable } from './queryable';

/**
 * Record that `consumer` handled `messageId`; true the first time, false if it
 * was already recorded (a redelivery: skip the message).
 *
 * Must run on the same client and in the same transaction as the handler's
 * appends: then the mark and the effects commit or roll back together, and a
 * concurrent redelivery blocks on the row until the first attempt ends.
 */
export async function markProcessed(
  q: Queryable,
  consumer: string,
  messageId: string,
): Promise<boolean> {
  const res = await q.query({
    name: 'keel_mark_processed',
    text: `INSERT INTO inbox (consumer, message_id) VALUES ($1, $2)
           ON CONFLICT (consumer, message_id) DO NOTHING`,
    values: [consumer, messageId],
  });
  return res.rowCount === 1;
}
