import type { Queryable, RecordedEvent } from '@keel/event-store';
import type { ProjectableEvent, RunSummary, SummaryStatus } from '@keel/projections';

/**
 * `run_summaries` ↔ `RunSummary`, and the projector's per-stream positions.
 * Every write names all columns, so a row is exactly the summary it came from
 * (what makes a rebuilt table comparable with the live one).
 */

export interface SummaryRow {
  run_id: string;
  tenant: string;
  request_id: string | null;
  status: string;
  review_step: number | null;
  steps: number;
  model_calls: number;
  tool_calls: number;
  tool_calls_failed: number;
  pending_tool_calls: number;
  tokens_in: string;
  tokens_out: string;
  cost_micros: string;
  answer: string | null;
  reason_code: string | null;
  reason_message: string | null;
  labels: Record<string, string> | null;
  created_at: Date | null;
  ended_at: Date | null;
  updated_at: Date;
}

export const SUMMARY_COLUMNS = `run_id, tenant, request_id, status, review_step, steps, model_calls,
  tool_calls, tool_calls_failed, pending_tool_calls, tokens_in, tokens_out, cost_micros, answer,
  reason_code, reason_message, labels, created_at, ended_at, updated_at`;

export function fromRow(r: SummaryRow): RunSummary {
  return {
    runId: r.run_id,
    tenant: r.tenant,
    requestId: r.request_id,
    status: r.status as SummaryStatus,
    reviewStep: r.review_step,
    steps: r.steps,
    modelCalls: r.model_calls,
    toolCalls: r.tool_calls,
    toolCallsFailed: r.tool_calls_failed,
    pendingToolCalls: r.pending_tool_calls,
    tokensIn: Number(r.tokens_in),
    tokensOut: Number(r.tokens_out),
    costMicros: Number(r.cost_micros),
    answer: r.answer,
    reasonCode: r.reason_code,
    reasonMessage: r.reason_message,
    labels: r.labels,
    createdAt: r.created_at?.toISOString() ?? null,
    endedAt: r.ended_at?.toISOString() ?? null,
    updatedAt: r.updated_at.toISOString(),
  };
}

/** A recorded event as the projection sees it. */
export function toProjectable(e: RecordedEvent): ProjectableEvent {
  return {
    ...e,
    metadata: { correlationId: e.metadata.correlationId, tenant: e.metadata.tenant },
    recordedAt: e.createdAt.toISOString(),
  };
}

export async function loadSummary(q: Queryable, runId: string): Promise<RunSummary | undefined> {
  const { rows } = await q.query<SummaryRow>(
    `SELECT ${SUMMARY_COLUMNS} FROM run_summaries WHERE run_id = $1`,
    [runId],
  );
  return rows[0] ? fromRow(rows[0]) : undefined;
}

/** Insert or overwrite whole rows (one statement for any number of summaries). */
export async function saveSummaries(q: Queryable, summaries: readonly RunSummary[]): Promise<void> {
  if (summaries.length === 0) return;
  await q.query(
    `INSERT INTO run_summaries (${SUMMARY_COLUMNS})
     SELECT s."runId"::uuid, s.tenant, s."requestId", s.status, s."reviewStep", s.steps,
            s."modelCalls", s."toolCalls", s."toolCallsFailed", s."pendingToolCalls",
            s."tokensIn", s."tokensOut", s."costMicros", s.answer, s."reasonCode",
            s."reasonMessage", s.labels, s."createdAt", s."endedAt", s."updatedAt"
       FROM jsonb_to_recordset($1::jsonb) AS s(
            "runId" text, tenant text, "requestId" text, status text, "reviewStep" int,
            steps int, "modelCalls" int, "toolCalls" int, "toolCallsFailed" int,
            "pendingToolCalls" int, "tokensIn" bigint, "tokensOut" bigint, "costMicros" bigint,
            answer text, "reasonCode" text, "reasonMessage" text, labels jsonb,
            "createdAt" timestamptz, "endedAt" timestamptz, "updatedAt" timestamptz)
     ON CONFLICT (run_id) DO UPDATE SET
       tenant = excluded.tenant, request_id = excluded.request_id, status = excluded.status,
       review_step = excluded.review_step, steps = excluded.steps,
       model_calls = excluded.model_calls, tool_calls = excluded.tool_calls,
       tool_calls_failed = excluded.tool_calls_failed,
       pending_tool_calls = excluded.pending_tool_calls, tokens_in = excluded.tokens_in,
       tokens_out = excluded.tokens_out, cost_micros = excluded.cost_micros,
       answer = excluded.answer, reason_code = excluded.reason_code,
       reason_message = excluded.reason_message, labels = excluded.labels,
       created_at = excluded.created_at, ended_at = excluded.ended_at,
       updated_at = excluded.updated_at`,
    [JSON.stringify(summaries)],
  );
}

/** The last version of `streamId` applied to the summaries (0: none). */
export async function appliedVersion(q: Queryable, streamId: string): Promise<number> {
  const { rows } = await q.query<{ version: number }>(
    'SELECT version FROM projection_positions WHERE stream_id = $1',
    [streamId],
  );
  return rows[0]?.version ?? 0;
}

export async function savePositions(
  q: Queryable,
  positions: ReadonlyArray<{ streamId: string; runId: string; version: number }>,
): Promise<void> {
  if (positions.length === 0) return;
  await q.query(
    `INSERT INTO projection_positions (stream_id, run_id, version)
     SELECT p."streamId", p."runId"::uuid, p.version
       FROM jsonb_to_recordset($1::jsonb) AS p("streamId" text, "runId" text, version int)
     ON CONFLICT (stream_id) DO UPDATE SET version = excluded.version`,
    [JSON.stringify(positions)],
  );
}
