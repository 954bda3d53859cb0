import { z } from 'zod';
import { TenantId, ToolName } from '../run-request';
import { defineEvent, ErrorInfo, JsonObject, Usage } from './define';

/** Events of the Run stream (`run:<runId>`). Single writer: the planner. */

const RunRequestedV1 = z.object({
  runId: z.string().uuid(),
  tenant: TenantId,
  requestId: z.string(),
  prompt: z.string(),
  tools: z.array(ToolName),
});

export const RunRequested = defineEvent(
  'RunRequested',
  2,
  z.object({
    runId: z.string().uuid(),
    tenant: TenantId,
    requestId: z.string(),
    input: z.object({ prompt: z.string() }),
    /** The run's capability: tools it may call. Checked again by the tool executor. */
    capability: z.object({ tools: z.array(ToolName) }),
    limits: z.object({
      maxSteps: z.number().int(),
      maxToolCalls: z.number().int(),
      maxTokens: z.number().int(),
      /** Absent: only `maxTokens` limits the run's tokens. */
      maxInputTokens: z.number().int().optional(),
      maxOutputTokens: z.number().int().optional(),
      /** Absent: no cost limit for the run (the tenant's daily limit may still apply). */
      maxCostUsd: z.number().optional(),
      deadlineAt: z.string(),
    }),
    labels: z.record(z.string(), z.string()).optional(),
  }),
  {
    // v1 (first draft of the skeleton) kept prompt and tools at the top level
    // and had no limits; v1 runs get the deployment's default limits.
    1: (old) => {
      const v1 = RunRequestedV1.parse(old);
      return {
        runId: v1.runId,
        tenant: v1.tenant,
        requestId: v1.requestId,
        input: { prompt: v1.prompt },
        capability: { tools: v1.tools },
        limits: { ...LEGACY_LIMITS },
      };
    },
  },
);

/** Limits given to runs recorded before limits existed (schema v1). */
export const LEGACY_LIMITS = {
  maxSteps: 20,
  maxToolCalls: 50,
  maxTokens: 100_000,
  deadlineAt: '9999-12-31T23:59:59.999Z',
} as const;

export const ToolCallSpec = z.object({
  callId: z.string().uuid(),
  tool: ToolName,
  input: JsonObject,
});

/**
 * How sure the model is (0..1) and why, on every decision. `confidence` is
 * null only on decisions recorded before it existed (v1 events).
 */
const Judgement = {
  confidence: z.number().min(0).max(1).nullable(),
  reasoning: z.string().max(4000),
};

export const ModelDecision = z.discriminatedUnion('kind', [
  z.object({
    kind: z.literal('tool_calls'),
    calls: z.array(ToolCallSpec).min(1),
    /**
     * The model's plan ends with these calls: when all succeed, their outputs
     * are the run's result and no further model call is made (LangChain's
     * "return direct"). If one fails, the model is asked again.
     */
    final: z.boolean().optional(),
    ...Judgement,
  }),
  z.object({ kind: z.literal('final'), answer: z.string(), ...Judgement }),
  /** The model asks a person: the run pauses in `awaiting_human` with the question. */
  z.object({ kind: z.literal('ask_human'), question: z.string().min(1).max(4000), ...Judgement }),
]);
export type ModelDecision = z.infer<typeof ModelDecision>;

/** Which model map entry made a call: the main reasoning model or the synthesis model. */
export const ModelRole = z.enum(['reasoning', 'synthesis']);
export type ModelRole = z.infer<typeof ModelRole>;

/** Which call of which logical step, on which model: shared by the three model-step events. */
const ModelCallFacts = {
  step: z.number().int().min(1),
  /** 1-based, across failed, rejected and successful attempts of the step. */
  attempt: z.number().int().min(1),
  role: ModelRole,
  /** The deployment's provider name (e.g. `openai`, `anthropic-fallback`). */
  provider: z.string(),
  model: z.string(),
  latencyMs: z.number().min(0),
};

const ModelDecisionRecordedV1 = z.object({
  step: z.number().int(),
  model: z.string(),
  promptVersion: z.string(),
  decision: z.object({ kind: z.string() }).loose(),
  usage: Usage,
  latencyMs: z.number(),
});

export const ModelDecisionRecorded = defineEvent(
  'ModelDecisionRecorded',
  2,
  z.object({
    ...ModelCallFacts,
    promptVersion: z.string(),
    /** name → version of every tool offered with this call. */
    toolVersions: z.record(z.string(), z.string()),
    decision: ModelDecision,
    usage: Usage,
  }),
  {
    // v1 had no attempt/role/provider/tool versions and no confidence/reasoning.
    1: (old) => {
      const v1 = ModelDecisionRecordedV1.parse(old);
      return {
        ...v1,
        attempt: 1,
        role: 'reasoning',
        provider: 'unknown',
        toolVersions: {},
        decision: { confidence: null, reasoning: '', ...v1.decision },
      };
    },
  },
);

/** How a failed model call is treated (see the planner doc): retry, give up, or stop and alert. */
export const ModelErrorClass = z.enum(['transient', 'permanent', 'quota']);

/** One failed attempt of a logical model step; a retry, if any, follows after `retryInMs`. */
export const ModelCallFailed = defineEvent(
  'ModelCallFailed',
  1,
  z.object({
    ...ModelCallFacts,
    code: z.string().max(64),
    errorClass: ModelErrorClass,
    message: z.string().max(2000),
    status: z.number().int().optional(),
    /** What the provider asked for (Retry-After). */
    retryAfterMs: z.number().int().min(0).optional(),
    /** When the next attempt is due; null when this failure ends the step. */
    retryInMs: z.number().int().min(0).nullable(),
  }),
);

/**
 * A reply that failed validation: the exact issues, and the raw output
 * (truncated) so the re-prompt can show the model what it sent.
 */
export const ModelOutputRejected = defineEvent(
  'ModelOutputRejected',
  1,
  z.object({
    ...ModelCallFacts,
    issues: z.array(z.string().max(500)).min(1).max(20),
    output: z.string().max(8000),
    usage: Usage,
  }),
);

export const ReviewReason = z.enum([
  /** The decision's confidence is below the configured threshold. */
  'low_confidence',
  /** The decision calls a tool configured as high-stakes. */
  'high_stakes_tool',
  /** The model asked a person. */
  'model_asked',
  /** The model's output kept failing validation (escalation by config). */
  'structured_output_invalid',
]);
export type ReviewReason = z.infer<typeof ReviewReason>;

/** The run pauses for a person: what they need to decide. */
export const HumanReviewRequested = defineEvent(
  'HumanReviewRequested',
  1,
  z.object({
    step: z.number().int().min(1),
    reason: ReviewReason,
    /** One line for the reviewer, e.g. "confidence 0.42 is below 0.70". */
    detail: z.string().max(2000),
    /** The decision under review; null when there is none (invalid output). */
    proposal: ModelDecision.nullable(),
    threshold: z.number().min(0).max(1).nullable(),
  }),
);

export const ReviewChanges = z
  .object({
    /** Replace a proposed final answer. */
    answer: z.string().min(1).max(200_000).optional(),
    /** Replace the input of proposed tool calls, by call id. */
    inputs: z.record(z.string().uuid(), JsonObject).optional(),
    /** Ask the model to plan again with this instruction. */
    instruction: z.string().min(1).max(20_000).optional(),
  })
  .strict()
  .refine((c) => c.answer !== undefined || c.inputs !== undefined || c.instruction !== undefined, {
    message: 'modify needs answer, inputs or instruction',
  });
export type ReviewChanges = z.infer<typeof ReviewChanges>;

export const HumanReviewDecided = defineEvent(
  'HumanReviewDecided',
  1,
  z.object({
    step: z.number().int().min(1),
    /** The caller's id for this decision: a repeated command is recognised, not applied twice. */
    reviewId: z.string().min(1).max(200),
    reviewer: z.string().min(1).max(200),
    decision: z.enum(['approve', 'reject', 'modify']),
    reason: z.string().max(2000).optional(),
    changes: ReviewChanges.optional(),
  }),
);

export const SynthesisReason = z.enum(['budget_warning', 'step_limit', 'tool_call_limit']);
export type SynthesisReason = z.infer<typeof SynthesisReason>;

/** The next model call must produce the answer from what the run has (no more tools). */
export const SynthesisStarted = defineEvent(
  'SynthesisStarted',
  1,
  z.object({ step: z.number().int().min(1), reason: SynthesisReason }),
);

export const ToolCallRequested = defineEvent(
  'ToolCallRequested',
  1,
  z.object({
    step: z.number().int().min(1),
    callId: z.string().uuid(),
    tool: ToolName,
    pool: z.string(),
    input: JsonObject,
    /** Same on every attempt and after a crash: `<runId>:<step>:<index>`. */
    idempotencyKey: z.string(),
  }),
);

export const ToolOutcome = z.discriminatedUnion('ok', [
  z.object({ ok: z.literal(true), output: JsonObject }),
  z.object({ ok: z.literal(false), error: ErrorInfo }),
]);
export type ToolOutcome = z.infer<typeof ToolOutcome>;

export const ToolResultRecorded = defineEvent(
  'ToolResultRecorded',
  1,
  z.object({
    step: z.number().int().min(1),
    callId: z.string().uuid(),
    tool: ToolName,
    outcome: ToolOutcome,
  }),
);

export const RunCompleted = defineEvent(
  'RunCompleted',
  1,
  z.object({ answer: z.string(), steps: z.number().int(), usage: Usage }),
);

export const RunFailed = defineEvent(
  'RunFailed',
  1,
  z.object({ error: ErrorInfo, steps: z.number().int(), usage: Usage }),
);

/** The run ended early with a partial answer: budget, ceilings or deadline. */
export const RunDegraded = defineEvent(
  'RunDegraded',
  1,
  z.object({ reason: ErrorInfo, answer: z.string(), steps: z.number().int(), usage: Usage }),
);

export const RunCancelled = defineEvent(
  'RunCancelled',
  1,
  z.object({
    reason: z.string().max(2000),
    by: z.string().max(200),
    steps: z.number().int(),
    usage: Usage,
  }),
);

/** The deadline passed with nothing to return. */
export const RunTimedOut = defineEvent(
  'RunTimedOut',
  1,
  z.object({ deadlineAt: z.string(), steps: z.number().int(), usage: Usage }),
);

export const RunEvents = [
  RunRequested,
  ModelCallFailed,
  ModelOutputRejected,
  ModelDecisionRecorded,
  HumanReviewRequested,
  HumanReviewDecided,
  SynthesisStarted,
  ToolCallRequested,
  ToolResultRecorded,
  RunCompleted,
  RunFailed,
  RunDegraded,
  RunCancelled,
  RunTimedOut,
] as const;

export const RunEvent = z.discriminatedUnion('type', [
  RunRequested.schema,
  ModelCallFailed.schema,
  ModelOutputRejected.schema,
  ModelDecisionRecorded.schema,
  HumanReviewRequested.schema,
  HumanReviewDecided.schema,
  SynthesisStarted.schema,
  ToolCallRequested.schema,
  ToolResultRecorded.schema,
  RunCompleted.schema,
  RunFailed.schema,
  RunDegraded.schema,
  RunCancelled.schema,
  RunTimedOut.schema,
]);
export type RunEvent = z.infer<typeof RunEvent>;
export type RunEventType = RunEvent['type'];
