import type { PoolClient } from 'pg';
import type { BudgetEvent } from '@keel/contracts';
import { appendToStream, readStream, type RecordedEvent } from '@keel/event-store';
import { newEventMetadata } from '@keel/runtime';

/**
 * Appends one event the guard writes outside a reservation (a fired deadline,
 * a resumed run, a breaker transition) at the stream's current end, in the
 * caller's transaction. A concurrent writer makes the expected version fail
 * and the whole transaction roll back, so nothing is recorded twice.
 */
export async function appendBudgetEvent(
  c: PoolClient,
  streamId: string,
  event: BudgetEvent,
  cause: { runId: string; tenant: string; causationId: string },
): Promise<RecordedEvent[]> {
  const existing = await readStream(c, streamId);
  const metadata = newEventMetadata({ ...cause, producer: 'budget-guard' });
  const res = await appendToStream(c, streamId, existing.at(-1)?.streamVersion ?? 0, [
    { ...event, metadata },
  ]);
  return res.records;
}
