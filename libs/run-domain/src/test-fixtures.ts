/**
 * TEST-ONLY fixtures for the run-domain unit specs (`*.unit.spec.ts`): builders
 * of recorded run events, decider commands and the `given` helper that folds a
 * stream into a state. Not exported from `index.ts`; never import it from
 * production code.
 */
import {
  toolCallIdFor,
  type CancelRunCommand,
  type ModelDecision,
  type ReviewChanges,
  type ReviewDecisionCommand,
  type ReviewReason,
  type RunEvent,
  type SynthesisReason,
  type ToolOutcome,
  type Usage,
} from '@keel/contracts';
import type { ModelFailure, RecordDecision, RejectedOutput, ReviewPolicy } from './decide-model';
import { foldRun } from './evolve';
import type { ActiveRunState, RunCore, RunState, StateOf } from './run-state';

export const RUN_ID = '0190f5a0-0000-7000-8000-000000000001';
export const TENANT = 'acme';
export const OTHER_TENANT = 'globex';
export const REQUEST_ID = 'req-1';
export const PROMPT = 'What is the weather in Lisbon, and convert it to Fahrenheit?';
export const TOOLS = ['search', 'calculator', 'send_email'];
export const DEADLINE_AT = '2026-11-21T10:05:00.000Z';
export const BEFORE_DEADLINE = new Date('2026-11-21T10:01:00.000Z');
export const AT_DEADLINE = new Date(DEADLINE_AT);

export type Limits = RunCore['limits'];
export const LIMITS: Limits = {
  maxSteps: 10,
  maxToolCalls: 10,
  maxTokens: 100_000,
  deadlineAt: DEADLINE_AT,
};

// ─── given ──────────────────────────────────────────────────────────────────

/** The state of a run whose stream holds `events` (folded with `foldRun`). */
export const given = (events: readonly RunEvent[]): RunState => foldRun(events);

/** Narrows a folded state to `status`; throws (failing the test) otherwise. */
export function expectStatus<S extends ActiveRunState['status']>(
  state: RunState,
  status: S,
): StateOf<S> {
  if (state.status !== status) throw new Error(`expected status ${status}, got ${state.status}`);
  return state as StateOf<S>;
}

/** Narrows a folded state to any active (non-`none`) state. */
export function active(state: RunState): ActiveRunState {
  if (state.status === 'none') throw new Error('expected a run, got none');
  return state;
}

// ─── values ─────────────────────────────────────────────────────────────────

export const usage = (inputTokens = 100, outputTokens = 20): Usage => ({
  inputTokens,
  outputTokens,
});

/** Keel's id of call `index` of step `step` (what `parseModelOutput` assigns). */
export const callId = (step: number, index = 0): string => toolCallIdFor(RUN_ID, step, index);

export const ok = (output: Record<string, unknown>): ToolOutcome => ({ ok: true, output });
export const toolError = (code = 'TOOL_TIMEOUT', message = 'the tool timed out'): ToolOutcome => ({
  ok: false,
  error: { code, message, retryable: false },
});

export interface CallSpec {
  readonly tool: string;
  readonly input?: Record<string, unknown>;
}

const inputOf = (c: CallSpec, i: number) => c.input ?? { q: `input ${i}` };

// ─── decisions ──────────────────────────────────────────────────────────────

export function toolCallsDecision(
  step: number,
  calls: readonly CallSpec[],
  opts: { confidence?: number | null; final?: boolean } = {},
): ModelDecision {
  return {
    kind: 'tool_calls',
    calls: calls.map((c, i) => ({ callId: callId(step, i), tool: c.tool, input: inputOf(c, i) })),
    ...(opts.final ? { final: true } : {}),
    confidence: opts.confidence === undefined ? 0.9 : opts.confidence,
    reasoning: 'the tools will tell',
  };
}

export const finalDecision = (answer: string, confidence: number | null = 0.9): ModelDecision => ({
  kind: 'final',
  answer,
  confidence,
  reasoning: 'I know enough',
});

export const askHumanDecision = (question: string, confidence = 0.9): ModelDecision => ({
  kind: 'ask_human',
  question,
  confidence,
  reasoning: 'a person must decide',
});

// ─── events ─────────────────────────────────────────────────────────────────

export function runRequested(limits: Partial<Limits> = {}, tools = TOOLS): RunEvent {
  return {
    type: 'RunRequested',
    data: {
      runId: RUN_ID,
      tenant: TENANT,
      requestId: REQUEST_ID,
      input: { prompt: PROMPT },
      capability: { tools },
      limits: { ...LIMITS, ...limits },
    },
  };
}

export function decisionRecorded(
  step: number,
  decision: ModelDecision,
  u: Usage = usage(),
  role: 'reasoning' | 'synthesis' = 'reasoning',
): RunEvent {
  return {
    type: 'ModelDecisionRecorded',
    data: {
      step,
      attempt: 1,
      role,
      provider: 'openai',
      model: 'gpt-test',
      promptVersion: 'planner-test',
      toolVersions: {},
      decision,
      usage: u,
      latencyMs: 12,
    },
  };
}

export const poolOf = (tool: string): string => (tool === 'send_email' ? 'outbound' : 'default');

export function toolCallRequested(
  step: number,
  index: number,
  tool: string,
  input: Record<string, unknown> = inputOf({ tool }, index),
): RunEvent {
  return {
    type: 'ToolCallRequested',
    data: {
      step,
      callId: callId(step, index),
      tool,
      pool: poolOf(tool),
      input,
      idempotencyKey: `${RUN_ID}:${step}:${index}`,
    },
  };
}

export function toolResultRecorded(
  step: number,
  index: number,
  tool: string,
  outcome: ToolOutcome = ok({ result: `${tool} result ${index}` }),
): RunEvent {
  return { type: 'ToolResultRecorded', data: { step, callId: callId(step, index), tool, outcome } };
}

/** A tool round as the deciders record it: the decision, then one request per call. */
export function toolRound(
  step: number,
  calls: readonly CallSpec[],
  opts: { confidence?: number | null; final?: boolean; usage?: Usage } = {},
): RunEvent[] {
  return [
    decisionRecorded(step, toolCallsDecision(step, calls, opts), opts.usage),
    ...calls.map((c, i) => toolCallRequested(step, i, c.tool, inputOf(c, i))),
  ];
}

/** The successful outcome of every call of a round, in order. */
export const roundResults = (step: number, calls: readonly CallSpec[]): RunEvent[] =>
  calls.map((c, i) => toolResultRecorded(step, i, c.tool));

export function reviewRequested(
  step: number,
  reason: ReviewReason,
  proposal: ModelDecision | null,
  threshold: number | null = null,
): RunEvent {
  return {
    type: 'HumanReviewRequested',
    data: { step, reason, detail: `review: ${reason}`, proposal, threshold },
  };
}

export function reviewDecided(
  step: number,
  decision: 'approve' | 'reject' | 'modify',
  opts: { reviewId?: string; reason?: string; changes?: ReviewChanges } = {},
): RunEvent {
  return {
    type: 'HumanReviewDecided',
    data: {
      step,
      reviewId: opts.reviewId ?? 'rev-1',
      reviewer: 'alice',
      decision,
      ...(opts.reason !== undefined ? { reason: opts.reason } : {}),
      ...(opts.changes ? { changes: opts.changes } : {}),
    },
  };
}

export const synthesisStarted = (step: number, reason: SynthesisReason): RunEvent => ({
  type: 'SynthesisStarted',
  data: { step, reason },
});

export function modelCallFailed(
  step: number,
  attempt = 1,
  retryInMs: number | null = 500,
): RunEvent {
  return {
    type: 'ModelCallFailed',
    data: {
      step,
      attempt,
      role: 'reasoning',
      provider: 'openai',
      model: 'gpt-test',
      code: 'MODEL_TIMEOUT',
      errorClass: 'transient',
      message: 'timed out',
      retryInMs,
      latencyMs: 30_000,
    },
  };
}

export function outputRejected(
  step: number,
  attempt = 1,
  issues = ['reply: not a JSON object (got "hello")'],
  output = 'hello',
  u: Usage = usage(),
): RunEvent {
  return {
    type: 'ModelOutputRejected',
    data: {
      step,
      attempt,
      role: 'reasoning',
      provider: 'openai',
      model: 'gpt-test',
      issues,
      output,
      usage: u,
      latencyMs: 10,
    },
  };
}

const ZERO: Usage = { inputTokens: 0, outputTokens: 0 };
const error = (code: string) => ({ code, message: code.toLowerCase(), retryable: false });

export const runCompleted = (answer = 'done'): RunEvent => ({
  type: 'RunCompleted',
  data: { answer, steps: 0, usage: ZERO },
});
export const runFailed = (code = 'BOOM'): RunEvent => ({
  type: 'RunFailed',
  data: { error: error(code), steps: 0, usage: ZERO },
});
export const runDegraded = (code = 'DEADLINE', answer = 'partial'): RunEvent => ({
  type: 'RunDegraded',
  data: { reason: error(code), answer, steps: 0, usage: ZERO },
});
export const runCancelled = (reason = 'not needed'): RunEvent => ({
  type: 'RunCancelled',
  data: { reason, by: 'ops', steps: 0, usage: ZERO },
});
export const runTimedOut = (): RunEvent => ({
  type: 'RunTimedOut',
  data: { deadlineAt: DEADLINE_AT, steps: 0, usage: ZERO },
});

// ─── decider commands ───────────────────────────────────────────────────────

export const REVIEW_OFF: ReviewPolicy = {
  enabled: false,
  minConfidence: 0.7,
  highStakesTools: ['send_email'],
};
export const REVIEW_ON: ReviewPolicy = { ...REVIEW_OFF, enabled: true };

export function recordDecision(
  step: number,
  decision: ModelDecision,
  overrides: Partial<RecordDecision> = {},
): RecordDecision {
  return {
    step,
    attempt: 1,
    role: 'reasoning',
    provider: 'openai',
    model: 'gpt-test',
    latencyMs: 12,
    decision,
    usage: usage(),
    promptVersion: 'planner-test',
    toolVersions: {},
    review: REVIEW_OFF,
    poolOf,
    ...overrides,
  };
}

export function modelFailure(step: number, overrides: Partial<ModelFailure> = {}): ModelFailure {
  return {
    step,
    attempt: 1,
    role: 'reasoning',
    provider: 'openai',
    model: 'gpt-test',
    latencyMs: 30_000,
    code: 'MODEL_TIMEOUT',
    errorClass: 'transient',
    message: 'timed out',
    retry: { retry: true, delayMs: 1500 },
    ...overrides,
  };
}

export function rejectedOutput(
  step: number,
  overrides: Partial<RejectedOutput> = {},
): RejectedOutput {
  return {
    step,
    attempt: 1,
    role: 'reasoning',
    provider: 'openai',
    model: 'gpt-test',
    latencyMs: 10,
    issues: ['reply: not a JSON object (got "hello")'],
    output: 'hello',
    usage: usage(),
    maxInvalidOutputs: 3,
    escalation: 'review',
    ...overrides,
  };
}

interface CommandRef {
  readonly reviewId?: string;
  readonly tenant?: string;
  readonly runId?: string;
}

const ref = (step: number, r: CommandRef) => ({
  runId: r.runId ?? RUN_ID,
  tenant: r.tenant ?? TENANT,
  step,
  reviewId: r.reviewId ?? 'rev-1',
  reviewer: 'alice',
});

export const approve = (step: number, r: CommandRef = {}): ReviewDecisionCommand => ({
  ...ref(step, r),
  decision: 'approve',
});
export const reject = (
  step: number,
  reason: string,
  r: CommandRef = {},
): ReviewDecisionCommand => ({
  ...ref(step, r),
  decision: 'reject',
  reason,
});
export const modify = (
  step: number,
  changes: ReviewChanges,
  r: CommandRef = {},
): ReviewDecisionCommand => ({ ...ref(step, r), decision: 'modify', changes });

export const cancel = (r: { tenant?: string; runId?: string } = {}): CancelRunCommand => ({
  runId: r.runId ?? RUN_ID,
  tenant: r.tenant ?? TENANT,
  reason: 'no longer needed',
  requestedBy: 'ops@acme',
});
