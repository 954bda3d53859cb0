import type { KeelEvent } from '@keel/contracts';
import { RunStatus } from '@keel/run-domain';

/**
 * The `run_summaries` read model: one row per run, a projection of every
 * stream of the run. Pure: `projectEvent(summary, event) → summary`.
 *
 * Order independence (why a rebuild in log order equals the live rows whatever
 * order the events arrived in): each field is owned by ONE stream category and
 * applied in that stream's version order (the caller's job: `LogFolder`, or the
 * projector's per-stream positions), or it is commutative and idempotent:
 *   - `run:<id>` owns status, steps, calls, tokens, result and created/ended;
 *   - `budget:<id>` owns `costMicros` (a sum of settlements: commutative);
 *   - every stream of the run moves `updatedAt` (a max: commutative);
 *   - `tenant` is the same on every event of a run.
 * A tenant-day budget stream (`budget:tenant:…`) holds many runs and is not
 * projected (`isProjectedStream`).
 */

export type SummaryStatus = RunStatus | 'unknown';

export interface RunSummary {
  readonly runId: string;
  readonly tenant: string;
  /** Null until `RunRequested` is projected (another stream's event came first). */
  readonly requestId: string | null;
  readonly status: SummaryStatus;
  /** The step waiting for a person (status `awaiting_human`), else null. */
  readonly reviewStep: number | null;
  readonly steps: number;
  /** Model calls made: decisions, rejected outputs and failed attempts. */
  readonly modelCalls: number;
  readonly toolCalls: number;
  readonly toolCallsFailed: number;
  /** Tool calls requested whose result is not recorded yet. */
  readonly pendingToolCalls: number;
  readonly tokensIn: number;
  readonly tokensOut: number;
  /** Settled cost in micro-dollars (1 USD = 1 000 000). */
  readonly costMicros: number;
  /** The answer of a completed or degraded run. */
  readonly answer: string | null;
  /** Why a run did not complete: failed, degraded, cancelled, timed out. */
  readonly reasonCode: string | null;
  readonly reasonMessage: string | null;
  readonly labels: Readonly<Record<string, string>> | null;
  /** ISO timestamps (milliseconds): RunRequested, the run's ending, its latest event. */
  readonly createdAt: string | null;
  readonly endedAt: string | null;
  readonly updatedAt: string;
}

/** What the projection needs of a recorded event. */
export type ProjectableEvent = KeelEvent & {
  readonly streamId: string;
  readonly streamVersion: number;
  readonly metadata: { readonly correlationId: string; readonly tenant: string };
  /** ISO timestamp of the commit (`created_at`), millisecond precision. */
  readonly recordedAt: string;
};

/** Streams that feed the projection: every stream of one run (not a tenant's day ledger). */
export const isProjectedStream = (streamId: string): boolean =>
  !streamId.startsWith('budget:tenant:');

export function emptySummary(runId: string, tenant: string, at: string): RunSummary {
  return {
    runId,
    tenant,
    requestId: null,
    status: 'unknown',
    reviewStep: null,
    steps: 0,
    modelCalls: 0,
    toolCalls: 0,
    toolCallsFailed: 0,
    pendingToolCalls: 0,
    tokensIn: 0,
    tokensOut: 0,
    costMicros: 0,
    answer: null,
    reasonCode: null,
    reasonMessage: null,
    labels: null,
    createdAt: null,
    endedAt: null,
    updatedAt: at,
  };
}

export const FINAL_EVENT_TYPES: ReadonlySet<string> = new Set([
  'RunCompleted',
  'RunFailed',
  'RunDegraded',
  'RunCancelled',
  'RunTimedOut',
]);

/** Apply one event (of a projected stream) to the run's summary; returns a new summary. */
export function projectEvent(prev: RunSummary | undefined, e: ProjectableEvent): RunSummary {
  const base = prev ?? emptySummary(e.metadata.correlationId, e.metadata.tenant, e.recordedAt);
  const s: RunSummary = {
    ...base,
    updatedAt: e.recordedAt > base.updatedAt ? e.recordedAt : base.updatedAt,
  };
  if (e.streamId.startsWith('run:')) return projectRunEvent(s, e);
  if (e.type === 'BudgetSettled' && e.streamId === `budget:${s.runId}`)
    return { ...s, costMicros: s.costMicros + e.data.costMicros };
  return s;
}

const maxStep = (s: RunSummary, step: number) => Math.max(s.steps, step);

function projectRunEvent(s: RunSummary, e: ProjectableEvent): RunSummary {
  switch (e.type) {
    case 'RunRequested':
      return {
        ...s,
        tenant: e.data.tenant,
        requestId: e.data.requestId,
        status: RunStatus.Requested,
        labels: e.data.labels ?? null,
        createdAt: e.recordedAt,
      };
    case 'ModelCallFailed':
      return { ...s, modelCalls: s.modelCalls + 1, steps: maxStep(s, e.data.step) };
    case 'ModelOutputRejected':
    case 'ModelDecisionRecorded':
      return {
        ...s,
        modelCalls: s.modelCalls + 1,
        steps: maxStep(s, e.data.step),
        tokensIn: s.tokensIn + e.data.usage.inputTokens,
        tokensOut: s.tokensOut + e.data.usage.outputTokens,
      };
    case 'HumanReviewRequested':
      return { ...s, status: RunStatus.AwaitingHuman, reviewStep: e.data.step };
    case 'HumanReviewDecided':
      // What follows in the same commit (tool calls, synthesis, an ending) moves it on.
      return { ...s, status: RunStatus.Planning, reviewStep: null };
    case 'SynthesisStarted':
      return { ...s, status: RunStatus.Synthesizing, steps: maxStep(s, e.data.step) };
    case 'ToolCallRequested':
      return {
        ...s,
        status: RunStatus.AwaitingTools,
        steps: maxStep(s, e.data.step),
        toolCalls: s.toolCalls + 1,
        pendingToolCalls: s.pendingToolCalls + 1,
      };
    case 'ToolResultRecorded': {
      const pending = Math.max(0, s.pendingToolCalls - 1);
      return {
        ...s,
        status: pending === 0 ? RunStatus.Planning : s.status,
        pendingToolCalls: pending,
        toolCallsFailed: s.toolCallsFailed + (e.data.outcome.ok ? 0 : 1),
      };
    }
    case 'RunCompleted':
      return ended(s, e, RunStatus.Completed, e.data, { answer: e.data.answer });
    case 'RunDegraded':
      return ended(s, e, RunStatus.Degraded, e.data, {
        answer: e.data.answer,
        reasonCode: e.data.reason.code,
        reasonMessage: e.data.reason.message,
      });
    case 'RunFailed':
      return ended(s, e, RunStatus.Failed, e.data, {
        reasonCode: e.data.error.code,
        reasonMessage: e.data.error.message,
      });
    case 'RunCancelled':
      return ended(s, e, RunStatus.Cancelled, e.data, {
        reasonCode: 'CANCELLED',
        reasonMessage: `cancelled by ${e.data.by}: ${e.data.reason}`,
      });
    case 'RunTimedOut':
      return ended(s, e, RunStatus.TimedOut, e.data, {
        reasonCode: 'TIMED_OUT',
        reasonMessage: `deadline ${e.data.deadlineAt} passed`,
      });
    default:
      return s;
  }
}

/** A run ending: its totals are authoritative (they include every attempt the planner counted). */
function ended(
  s: RunSummary,
  e: ProjectableEvent,
  status: SummaryStatus,
  totals: { steps: number; usage: { inputTokens: number; outputTokens: number } },
  result: Partial<Pick<RunSummary, 'answer' | 'reasonCode' | 'reasonMessage'>>,
): RunSummary {
  return {
    ...s,
    ...result,
    status,
    reviewStep: null,
    pendingToolCalls: 0,
    steps: totals.steps,
    tokensIn: totals.usage.inputTokens,
    tokensOut: totals.usage.outputTokens,
    endedAt: e.recordedAt,
  };
}
