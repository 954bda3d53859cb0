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
  }),
  z.object({ kind: z.literal('final'), answer: z.string() }),
]);
export type ModelDecision = z.infer<typeof ModelDecision>;

export const ModelDecisionRecorded = defineEvent(
  'ModelDecisionRecorded',
  1,
  z.object({
    step: z.number().int().min(1),
    model: z.string(),
    promptVersion: z.string(),
    decision: ModelDecision,
    usage: Usage,
    latencyMs: z.number().min(0),
  }),
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

export const RunEvents = [
  RunRequested,
  ModelDecisionRecorded,
  ToolCallRequested,
  ToolResultRecorded,
  RunCompleted,
  RunFailed,
] as const;

export const RunEvent = z.discriminatedUnion('type', [
  RunRequested.schema,
  ModelDecisionRecorded.schema,
  ToolCallRequested.schema,
  ToolResultRecorded.schema,
  RunCompleted.schema,
  RunFailed.schema,
]);
export type RunEvent = z.infer<typeof RunEvent>;
