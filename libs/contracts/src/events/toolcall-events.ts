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

export const ToolCallSucceeded = defineEvent(
  'ToolCallSucceeded',
  1,
  z.object({
    ...common,
    output: JsonObject,
    attempts: z.number().int().min(1),
    durationMs: z.number().min(0),
  }),
);

export const ToolCallFailed = defineEvent(
  'ToolCallFailed',
  1,
  z.object({ ...common, error: ErrorInfo, attempts: z.number().int().min(1) }),
);

/** Refused before execution (outside the run's capability, unknown tool, bad input). */
export const ToolCallRejected = defineEvent(
  'ToolCallRejected',
  1,
  z.object({ ...common, error: ErrorInfo }),
);

export const ToolCallEvents = [ToolCallSucceeded, ToolCallFailed, ToolCallRejected] as const;

export const ToolCallEvent = z.discriminatedUnion('type', [
  ToolCallSucceeded.schema,
  ToolCallFailed.schema,
  ToolCallRejected.schema,
]);
export type ToolCallEvent = z.infer<typeof ToolCallEvent>;
