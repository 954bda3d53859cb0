import type { Pool } from 'pg';
import type { Logger } from 'pino';
import { RelayedEvent } from '@keel/contracts';
import { EventReadError, readStream, withTransaction, type RecordedEvent } from '@keel/event-store';
import { parseJson, TerminalError, type Disposition, type InboundMessage } from '@keel/messaging';
import { isProjectedStream, projectEvent, type RunSummary } from '@keel/projections';
import {
  appliedVersion,
  loadSummary,
  savePositions,
  saveSummaries,
  toProjectable,
} from '@keel/projections/store';
import type { FastPublisher } from '@keel/runtime';
import { requestReviewWebhook, type ReviewWebhookOptions } from './review-webhook';

export interface ProjectorDeps {
  readonly pool: Pool;
  readonly log: Logger;
  readonly publisher: FastPublisher;
  /** Undefined: no review webhook configured. */
  readonly reviewWebhook: ReviewWebhookOptions | undefined;
}

/**
 * The projector (durable consumer `api-projector` on every event subject):
 * keeps `run_summaries` up to date from the log.
 *
 * A message is only a signal that its stream has grown. Per message, in ONE
 * transaction, under a per-run advisory lock (replicas and concurrent
 * handlers of one run queue up):
 *   1. read the stream's applied version from `projection_positions`;
 *      the message's version at or below it → nothing to do (a redelivery,
 *      the relay's second copy, an event a rebuild already folded);
 *   2. read the stream FROM THE LOG after that version — so events that
 *      JetStream delivered out of order or not yet are applied in version
 *      order, with no gap —, fold them into the run's row, save the row
 *      and the new position (the checkpoint commits with the rows);
 *   3. for a `HumanReviewRequested` among them, request the review webhook
 *      in the same transaction.
 * Events of different streams of a run are applied in whatever order they
 * come; the projection is built so that does not matter (libs/projections).
 */
export function projectorHandler(deps: ProjectorDeps) {
  return async (msg: InboundMessage): Promise<Disposition> => {
    const relayed = parseJson(msg, RelayedEvent);
    if (!isProjectedStream(relayed.streamId)) return { kind: 'ack' };
    const runId = relayed.metadata.correlationId;
    const requested = await withTransaction(deps.pool, async (c) => {
      await c.query('SELECT pg_advisory_xact_lock(hashtext($1))', [`keel-projection:${runId}`]);
      const applied = await appliedVersion(c, relayed.streamId);
      if (relayed.streamVersion <= applied) return [];
      const events = await readNewEvents(c, relayed.streamId, applied);
      const last = events.at(-1);
      if (!last || last.streamVersion < relayed.streamVersion)
        // Published only after commit, so it is in the log: a replica lagging behind? Retry.
        throw new Error(`${relayed.streamId} v${relayed.streamVersion} is not readable yet`);
      let summary: RunSummary | undefined = await loadSummary(c, runId);
      for (const e of events) summary = projectEvent(summary, toProjectable(e));
      await saveSummaries(c, [summary!]);
      await savePositions(c, [{ streamId: relayed.streamId, runId, version: last.streamVersion }]);
      const records: RecordedEvent[] = [];
      if (deps.reviewWebhook)
        for (const e of events)
          if (e.type === 'HumanReviewRequested')
            records.push(...(await requestReviewWebhook(c, deps.reviewWebhook, e)));
      return records;
    });
    if (requested.length > 0) {
      deps.log.info({ runId }, 'review webhook requested');
      deps.publisher.publish(requested);
    }
    return { kind: 'ack' };
  };
}

async function readNewEvents(
  c: Parameters<typeof readStream>[0],
  streamId: string,
  applied: number,
): Promise<RecordedEvent[]> {
  try {
    return await readStream(c, streamId, { fromVersion: applied + 1 });
  } catch (err) {
    // An event this build cannot read: retrying will not help; dead-letter with the reason.
    if (err instanceof EventReadError) throw new TerminalError('EVENT_UNREADABLE', err.message);
    throw err;
  }
}
