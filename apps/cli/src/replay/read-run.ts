import type { Pool } from 'pg';
import { streamIds, type RunEvent } from '@keel/contracts';
import { readStream, type RecordedEvent } from '@keel/event-store';
import type { RecordedRunEvent } from '@keel/run-domain';
import { UsageError } from '../cli-kit/args';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

/** A run id is a UUID: checked before connecting anywhere. */
export function assertRunId(runId: string): string {
  if (!UUID.test(runId)) throw new UsageError(`invalid run id '${runId}' (a UUID)`);
  return runId;
}

export class RunNotFoundError extends Error {
  override name = 'RunNotFoundError';
}

/**
 * A run's stream from the event log (PostgreSQL, the record — JetStream keeps
 * 7 days), upcast to today's event shapes. Unknown run: `RunNotFoundError`.
 */
export async function readRun(pool: Pool, runId: string): Promise<RecordedEvent[]> {
  assertRunId(runId);
  const events = await readStream(pool, streamIds.run(runId));
  if (events.length === 0) throw new RunNotFoundError(`run ${runId} not found`);
  return events;
}

export const asRunEvents = (events: readonly RecordedEvent[]): RecordedRunEvent[] =>
  events.map((e) => ({
    version: e.streamVersion,
    event: { type: e.type, data: e.data } as RunEvent,
  }));
