import { z } from 'zod';
import { ToolName } from '../run-request';
import { defineEvent, ErrorInfo, JsonObject } from './define';

/** Events of a ToolCall stream (`toolcall:<callId>`). Single writer: the tool executor. */

const common = {
  runId: z.string().uuid(),
  callId: z.string().uuid(),
  step: z.number().int().min(1),
  tool: ToolName,
};

/** How a tool failure is treated: retried (transient, rate_limited) or not. */
export const ToolErrorClass = z.enum(['transient', 'rate_limited', 'auth', 'permanent', 'quota']);

export const ToolCallSucceeded = defineEvent(
  'ToolCallSucceeded',
  1,
  z.object({
    ...common,
    output: JsonObject,
    /** Executions it took; 0 when served from the run's cache. */
    attempts: z.number().int().min(0),
    durationMs: z.number().min(0),
    /** sha256 of the input's canonical JSON: what a cacheable read tool is looked up by. */
    inputHash: z.string().optional(),
    /** Served from this earlier call of the run (cacheable read tools): not executed again. */
    cachedFrom: z.string().uuid().optional(),
    /** The breaker this execution reported a success to (absent when served from the cache). */
    breaker: z.string().max(300).optional(),
    /** Deliveries the call asked for (external tools), recorded in the same transaction. */
    deliveryIds: z.array(z.string().uuid()).optional(),
  }),
);

/** One failed attempt; the next follows after `retryInMs` (null: no retry). */
export const ToolCallAttemptFailed = defineEvent(
  'ToolCallAttemptFailed',
  1,
  z.object({
    ...common,
    attempt: z.number().int().min(1),
    error: ErrorInfo,
    errorClass: ToolErrorClass,
    retryInMs: z.number().int().min(0).nullable(),
    /** The breaker this failure counted against (retryable failures only). */
    breaker: z.string().max(300).optional(),
  }),
);

/**
 * A tool's (or its dependency's) circuit breaker changed state while this call
 * ran; recorded on the call's stream, in the same commit as what the call did.
 */
export const ToolBreakerTransitioned = defineEvent(
  'ToolBreakerTransitioned',
  1,
  z.object({
    ...common,
    breaker: z.string(),
    from: z.enum(['closed', 'open', 'half_open']),
    to: z.enum(['closed', 'open', 'half_open']),
    reason: z.string().max(500),
  }),
);

export const ToolCallFailed = defineEvent(
  'ToolCallFailed',
  1,
  z.object({
    ...common,
    error: ErrorInfo,
    attempts: z.number().int().min(1),
    errorClass: ToolErrorClass.optional(),
  }),
);

/** Refused before execution (outside the run's capability, unknown tool, bad input). */
export const ToolCallRejected = defineEvent(
  'ToolCallRejected',
  1,
  z.object({ ...common, error: ErrorInfo }),
);

export const ToolCallEvents = [
  ToolCallAttemptFailed,
  ToolBreakerTransitioned,
  ToolCallSucceeded,
  ToolCallFailed,
  ToolCallRejected,
] as const;

export const ToolCallEvent = z.discriminatedUnion('type', [
  ToolCallAttemptFailed.schema,
  ToolBreakerTransitioned.schema,
  ToolCallSucceeded.schema,
  ToolCallFailed.schema,
  ToolCallRejected.schema,
]);
export type ToolCallEvent = z.infer<typeof ToolCallEvent>;
