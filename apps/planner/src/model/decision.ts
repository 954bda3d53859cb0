import { z } from 'zod';
import { ModelDecision, toolCallIdFor } from '@keel/contracts';
import { ModelCallError, type RawModelReply } from './model-client';

/**
 * Turn a raw model reply into a validated decision with Keel-assigned call ids
 * (stable per run/step/index, so a retried step names the same calls).
 * Unvalidated model output never crosses this line.
 */
export function toDecision(reply: RawModelReply, runId: string, step: number): ModelDecision {
  const candidate =
    reply.kind === 'text'
      ? { kind: 'final', answer: reply.text }
      : {
          kind: 'tool_calls',
          calls: reply.calls.map((c, i) => ({
            callId: toolCallIdFor(runId, step, i),
            tool: c.name,
            input: parseArgs(c.argumentsJson),
          })),
          ...(decisionNote(reply.note).final ? { final: true } : {}),
        };
  const parsed = ModelDecision.safeParse(candidate);
  if (!parsed.success) {
    const issues = parsed.error.issues.map((i) => `${i.path.join('.')}: ${i.message}`).join('; ');
    throw new ModelCallError(
      'STRUCTURED_OUTPUT_INVALID',
      `model output failed validation: ${issues}`,
      false,
    );
  }
  return parsed.data;
}

function parseArgs(json: string): unknown {
  try {
    return JSON.parse(json || '{}');
  } catch {
    return json;
  }
}

/**
 * Text a model sends with its tool calls. When it is a JSON object it is read
 * as Keel's decision note (`{"final": true}`: these calls finish the run);
 * any other text is ignored.
 */
const DecisionNote = z.object({ final: z.boolean().optional() }).loose();

function decisionNote(note: string | undefined): z.infer<typeof DecisionNote> {
  if (!note?.trim().startsWith('{')) return {};
  try {
    const parsed = DecisionNote.safeParse(JSON.parse(note));
    return parsed.success ? parsed.data : {};
  } catch {
    return {};
  }
}
