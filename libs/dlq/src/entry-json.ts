import type { DlqEntrySummary } from './entry';
import type { ShownEntry } from './operations';

/**
 * The JSON form of DLQ entries, one shape for every front end (`keel dlq …
 * --json` and the HTTP API's /dlq): dates as ISO-8601 strings, the payload as
 * `describePayload` gives it.
 */
export function entrySummaryJson(e: DlqEntrySummary) {
  return {
    ...e,
    deadLetteredAt: e.deadLetteredAt.toISOString(),
    ingestedAt: e.ingestedAt.toISOString(),
    resolvedAt: e.resolvedAt?.toISOString() ?? null,
  };
}

/** A shown entry: the summary's fields (with `payloadBytes`) and the described payload. */
export function shownEntryJson(e: ShownEntry) {
  const { payload, ...rest } = e;
  return { ...entrySummaryJson({ ...rest, payloadBytes: payload?.bytes ?? null }), payload };
}
