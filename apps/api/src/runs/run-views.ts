import type { z } from 'zod';
import type { RecordedEvent } from '@keel/event-store';
import { timelineFacts, type RunSummary } from '@keel/projections';
import type { RunView, TimelineEvent } from '../schemas';
import type { VisibleRun } from './run-access';

/** The JSON shapes of runs and their events (documented in schemas.ts). */

export const runLinks = (runId: string) => ({
  self: `/runs/${runId}`,
  events: `/runs/${runId}/events`,
  stream: `/runs/${runId}/events/stream`,
});

export function runView(run: VisibleRun): z.infer<typeof RunView> {
  const s: RunSummary | undefined = run.summary;
  const failure =
    s?.reasonCode && s.reasonMessage !== null
      ? { code: s.reasonCode, message: s.reasonMessage }
      : null;
  return {
    runId: run.runId,
    tenant: run.tenant,
    requestId: s?.requestId ?? null,
    status: !s || s.status === 'unknown' ? 'submitted' : s.status,
    reviewStep: s?.reviewStep ?? null,
    steps: s?.steps ?? 0,
    modelCalls: s?.modelCalls ?? 0,
    toolCalls: {
      total: s?.toolCalls ?? 0,
      failed: s?.toolCallsFailed ?? 0,
      pending: s?.pendingToolCalls ?? 0,
    },
    budget: {
      tokensIn: s?.tokensIn ?? 0,
      tokensOut: s?.tokensOut ?? 0,
      costUsd: (s?.costMicros ?? 0) / 1_000_000,
    },
    answer: s?.answer ?? null,
    failure,
    labels: s?.labels ?? null,
    createdAt: s?.createdAt ?? run.submittedAt?.toISOString() ?? null,
    endedAt: s?.endedAt ?? null,
    updatedAt: s?.updatedAt ?? null,
    links: runLinks(run.runId),
  };
}

/** `<transaction id>:<global position>`: unique, and ordered as the log is. */
export const eventId = (e: RecordedEvent) => `${e.transactionId}:${e.globalPosition}`;

export function timelineEvent(e: RecordedEvent): z.infer<typeof TimelineEvent> {
  return {
    id: eventId(e),
    streamId: e.streamId,
    streamVersion: e.streamVersion,
    type: e.type,
    recordedAt: e.createdAt.toISOString(),
    ...timelineFacts(e, e.metadata.producer),
    data: e.data,
  };
}
