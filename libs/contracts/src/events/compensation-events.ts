import { z } from 'zod';
import { ToolName } from '../run-request';
import { defineEvent, ErrorInfo, JsonObject } from './define';

/**
 * Events of a Compensation stream (`compensation:<runId>`): the saga that
 * undoes a failed run's completed side effects, in reverse order. Single
 * writer: the tool executor.
 */

const Step = z.object({
  /** The call being undone. */
  callId: z.string().uuid(),
  tool: ToolName,
  compensatingTool: ToolName,
});

export const CompensationStarted = defineEvent(
  'CompensationStarted',
  1,
  z.object({
    runId: z.string().uuid(),
    /** The run ending that triggered it (RunFailed, RunCancelled, RunTimedOut). */
    trigger: z.string(),
    /** Newest first: the order they run in. */
    steps: z.array(Step),
  }),
);

export const CompensationSucceeded = defineEvent(
  'CompensationSucceeded',
  1,
  Step.extend({ runId: z.string().uuid(), attempts: z.number().int().min(1), output: JsonObject }),
);

export const CompensationFailed = defineEvent(
  'CompensationFailed',
  1,
  Step.extend({ runId: z.string().uuid(), attempts: z.number().int().min(1), error: ErrorInfo }),
);

export const CompensationFinished = defineEvent(
  'CompensationFinished',
  1,
  z.object({
    runId: z.string().uuid(),
    succeeded: z.number().int().min(0),
    failed: z.number().int().min(0),
  }),
);

export const CompensationEvents = [
  CompensationStarted,
  CompensationSucceeded,
  CompensationFailed,
  CompensationFinished,
] as const;

export const CompensationEvent = z.discriminatedUnion('type', [
  CompensationStarted.schema,
  CompensationSucceeded.schema,
  CompensationFailed.schema,
  CompensationFinished.schema,
]);
export type CompensationEvent = z.infer<typeof CompensationEvent>;
