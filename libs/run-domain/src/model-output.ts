import { z } from 'zod';
import { toolCallIdFor, type ModelDecision } from '@keel/contracts';

/**
 * What a model must write, validated before anything else sees it. Two shapes:
 * - with native tool calling, the calls come natively and the assistant text
 *   is a `ToolCallNote` (confidence, reasoning, optional `final`); a reply
 *   without calls is a `ModelOutput` (`final` or `ask_human`);
 * - in JSON mode, every reply is one `ModelOutput`, tool calls included.
 * Unvalidated model output never crosses this module.
 */

/** What the model said, before Keel assigns call ids and validates it into a decision. */
export type RawModelReply =
  | {
      readonly kind: 'tool_calls';
      readonly calls: readonly { name: string; argumentsJson: string }[];
      /** Assistant text sent with the calls: Keel's decision note (JSON) when the model follows the prompt. */
      readonly note?: string;
    }
  | { readonly kind: 'text'; readonly text: string };

const Judgement = {
  confidence: z.number().min(0).max(1),
  reasoning: z.string().min(1).max(4000),
};

export const ToolCallNote = z.object({ ...Judgement, final: z.boolean().optional() }).strict();

export const ModelOutput = z.discriminatedUnion('action', [
  z
    .object({
      action: z.literal('call_tools'),
      calls: z
        .array(z.object({ tool: z.string(), input: z.record(z.string(), z.unknown()) }).strict())
        .min(1)
        .max(16),
      final: z.boolean().optional(),
      ...Judgement,
    })
    .strict(),
  z.object({ action: z.literal('final'), answer: z.string().min(1), ...Judgement }).strict(),
  z.object({ action: z.literal('ask_human'), question: z.string().min(1), ...Judgement }).strict(),
]);
export type ModelOutput = z.infer<typeof ModelOutput>;

/**
 * JSON Schema for providers' JSON mode. Providers want one object at the root
 * (OpenAI's structured outputs refuse a top-level `oneOf`), so this is the
 * union flattened into one object; replies are still validated against the
 * exact `ModelOutput` union.
 */
const ModelOutputEnvelope = z.object({
  action: z.enum(['call_tools', 'final', 'ask_human']),
  calls: z
    .array(z.object({ tool: z.string(), input: z.record(z.string(), z.unknown()) }))
    .optional(),
  final: z.boolean().optional(),
  answer: z.string().optional(),
  question: z.string().optional(),
  ...Judgement,
});
export const modelOutputJsonSchema = (): Record<string, unknown> =>
  z.toJSONSchema(ModelOutputEnvelope);

export type ParsedOutput =
  | { readonly ok: true; readonly decision: ModelDecision }
  | { readonly ok: false; readonly issues: string[]; readonly output: string };

export interface ParseContext {
  readonly runId: string;
  readonly step: number;
  /** The run's capability: a call to any other tool is an issue, sent back to the model. */
  readonly allowedTools: readonly string[];
  /** Synthesis: only a final answer is acceptable. */
  readonly synthesis: boolean;
}

const MAX_RECORDED_OUTPUT = 8000;

export function parseModelOutput(reply: RawModelReply, ctx: ParseContext): ParsedOutput {
  const output = rawText(reply);
  const fail = (issues: string[]): ParsedOutput => ({
    ok: false,
    issues: issues.slice(0, 20).map((i) => i.slice(0, 500)),
    output: output.slice(0, MAX_RECORDED_OUTPUT),
  });

  let candidate: ModelOutput;
  if (reply.kind === 'tool_calls') {
    const note = parseJson(reply.note ?? '', ToolCallNote, 'tool-call note');
    const calls = reply.calls.map((c, i) => ({
      i,
      name: c.name,
      input: parseJsonObject(c.argumentsJson),
    }));
    const issues = [
      ...(note.ok ? [] : note.issues),
      ...calls.flatMap((c) =>
        c.input === undefined
          ? [`calls.${c.i}.input: arguments of ${c.name} are not a JSON object`]
          : [],
      ),
    ];
    if (!note.ok || issues.length > 0) return fail(issues);
    // The same rules as a JSON-mode reply (e.g. at most 16 calls at once).
    const native = ModelOutput.safeParse({
      action: 'call_tools',
      calls: calls.map((c) => ({ tool: c.name, input: c.input! })),
      ...note.value,
    });
    if (!native.success) return fail(native.error.issues.map(issueText('reply')));
    candidate = native.data;
  } else {
    const parsed = parseJson(reply.text, ModelOutput, 'reply');
    if (!parsed.ok) return fail(parsed.issues);
    candidate = parsed.value;
  }

  const issues: string[] = [];
  if (candidate.action === 'call_tools') {
    if (ctx.synthesis)
      issues.push(
        'action: tools are not available now; reply with action "final" and your best answer',
      );
    candidate.calls.forEach((c, i) => {
      if (!ctx.allowedTools.includes(c.tool))
        issues.push(`calls.${i}.tool: '${c.tool}' is not one of the tools you may call`);
    });
  } else if (candidate.action === 'ask_human' && ctx.synthesis) {
    issues.push('action: reply with action "final" and your best answer');
  }
  if (issues.length > 0) return fail(issues);
  return { ok: true, decision: toDecision(candidate, ctx) };
}

function toDecision(o: ModelOutput, ctx: ParseContext): ModelDecision {
  const judgement = { confidence: o.confidence, reasoning: o.reasoning };
  switch (o.action) {
    case 'call_tools':
      return {
        kind: 'tool_calls',
        calls: o.calls.map((c, i) => ({
          callId: toolCallIdFor(ctx.runId, ctx.step, i),
          tool: c.tool,
          input: c.input,
        })),
        ...(o.final ? { final: true } : {}),
        ...judgement,
      };
    case 'final':
      return { kind: 'final', answer: o.answer, ...judgement };
    case 'ask_human':
      return { kind: 'ask_human', question: o.question, ...judgement };
  }
}

function rawText(reply: RawModelReply): string {
  if (reply.kind === 'text') return reply.text;
  return JSON.stringify({
    note: reply.note ?? null,
    calls: reply.calls.map((c) => ({ tool: c.name, arguments: c.argumentsJson })),
  });
}

function parseJson<T>(
  text: string,
  schema: z.ZodType<T>,
  what: string,
): { ok: true; value: T } | { ok: false; issues: string[] } {
  const trimmed = stripFence(text.trim());
  let value: unknown;
  try {
    value = JSON.parse(trimmed);
  } catch {
    return {
      ok: false,
      issues: [`${what}: not a JSON object (got ${JSON.stringify(trimmed.slice(0, 60))})`],
    };
  }
  const parsed = schema.safeParse(value);
  if (parsed.success) return { ok: true, value: parsed.data };
  return {
    ok: false,
    issues: parsed.error.issues.map(issueText(what)),
  };
}

/** Models often wrap JSON in a Markdown fence; accept that, nothing looser. */
function stripFence(text: string): string {
  const m = /^```(?:json)?\s*([\s\S]*?)\s*```$/.exec(text);
  return m ? m[1]! : text;
}

function parseJsonObject(json: string): Record<string, unknown> | undefined {
  try {
    const v: unknown = JSON.parse(json || '{}');
    return typeof v === 'object' && v !== null && !Array.isArray(v)
      ? (v as Record<string, unknown>)
      : undefined;
  } catch {
    return undefined;
  }
}

const issueText =
  (what: string) =>
  (i: { path: PropertyKey[]; message: string }): string =>
    `${i.path.length ? i.path.map(String).join('.') : what}: ${i.message}`;
