import Anthropic from '@anthropic-ai/sdk';
import type { ChatMessage } from '@keel/run-domain';
import {
  abortedError,
  classifyHttpFailure,
  connectionError,
  emptyReplyError,
  type HeaderLookup,
  timeoutError,
  unexpectedError,
} from './classify-model-error';
import { keepAliveFetch } from './http-fetch';
import { inModelCallSpan } from './model-call-span';
import {
  ModelCallError,
  type ModelCallArgs,
  type ModelClient,
  type ModelReply,
  type RawModelReply,
  type ToolSpec,
} from './model-client';

export interface AnthropicMessagesModelOptions {
  /** The deployment's name for this endpoint (breaker key, recorded on events). */
  readonly provider: string;
  /** Without `/v1`: e.g. `https://api.anthropic.com`. */
  readonly baseURL: string;
  readonly apiKey: string;
  /** Per attempt; the SDK aborts the request after it. */
  readonly timeoutMs: number;
  readonly model: string;
}

type MessageParam = Anthropic.Messages.MessageParam;
type ContentBlockParam = Anthropic.Messages.ContentBlockParam;

/**
 * Anthropic Messages provider through the official SDK, with its retries off
 * (Keel's policy decides what is retried) and its own OpenTelemetry spans off:
 * Keel's span below is the model-call span, and the SDK's can be switched by
 * environment variables to carry prompt and completion content, which Keel's
 * spans never do.
 */
export class AnthropicMessagesModel implements ModelClient {
  readonly system = 'anthropic' as const;
  readonly provider: string;
  readonly model: string;
  private readonly client: Anthropic;

  constructor(opts: AnthropicMessagesModelOptions) {
    this.provider = opts.provider;
    this.model = opts.model;
    this.client = new Anthropic({
      baseURL: opts.baseURL,
      apiKey: opts.apiKey,
      maxRetries: 0,
      fetch: keepAliveFetch,
      timeout: opts.timeoutMs,
      // The HTTP instrumentation already propagates trace context on node:http.
      openTelemetry: { traces: false, propagation: false },
      // Explicit, so ANTHROPIC_LOG=debug in the environment cannot log prompts and completions.
      logLevel: 'warn',
    });
  }

  complete(args: ModelCallArgs): Promise<ModelReply> {
    return inModelCallSpan(this, classifyAnthropicError, async () => {
      const started = performance.now();
      const { system, messages } = toAnthropicMessages(args.messages);
      const res = await this.client.messages.create(
        {
          model: this.model,
          max_tokens: args.maxOutputTokens,
          messages,
          ...(system ? { system } : {}),
          // `json` mode: no tools; the transcript asks for the JSON object.
          ...(args.mode === 'native' && args.tools.length > 0
            ? { tools: args.tools.map(toAnthropicTool) }
            : {}),
        },
        {
          headers: { 'Idempotency-Key': args.idempotencyKey },
          ...(args.signal ? { signal: args.signal } : {}),
        },
      );
      const latencyMs = performance.now() - started;
      const usage = {
        inputTokens: res.usage?.input_tokens ?? 0,
        outputTokens: res.usage?.output_tokens ?? 0,
      };
      const reply = fromAnthropicContent(res.content ?? []);
      if (!reply) throw emptyReplyError();
      return { reply, model: res.model || this.model, usage, latencyMs };
    });
  }
}

/**
 * The neutral transcript in Anthropic's shape: system messages become the
 * top-level `system`; tool results go, as `tool_result` blocks, into the user
 * turn right after the assistant's `tool_use` turn; adjacent turns of one role
 * are merged (the API wants user and assistant turns to alternate). Empty text
 * is left out (the API refuses empty text blocks), and so is a turn left empty.
 */
export function toAnthropicMessages(transcript: readonly ChatMessage[]): {
  system: string | undefined;
  messages: MessageParam[];
} {
  const system: string[] = [];
  const messages: { role: 'user' | 'assistant'; content: ContentBlockParam[] }[] = [];
  const append = (role: 'user' | 'assistant', blocks: ContentBlockParam[]) => {
    if (blocks.length === 0) return;
    const last = messages[messages.length - 1];
    if (last?.role === role) last.content.push(...blocks);
    else messages.push({ role, content: blocks });
  };
  for (const m of transcript) {
    switch (m.role) {
      case 'system':
        if (m.content) system.push(m.content);
        break;
      case 'user':
        append('user', textBlocks(m.content));
        break;
      case 'assistant':
        append('assistant', [
          ...textBlocks(m.content),
          ...(m.toolCalls ?? []).map((c): ContentBlockParam => ({
            type: 'tool_use',
            id: c.id,
            name: c.name,
            input: c.arguments,
          })),
        ]);
        break;
      case 'tool':
        append('user', [{ type: 'tool_result', tool_use_id: m.toolCallId, content: m.content }]);
        break;
      default: {
        const unreachable: never = m;
        return unreachable;
      }
    }
  }
  return { system: system.length > 0 ? system.join('\n\n') : undefined, messages };
}

const textBlocks = (text: string | null): ContentBlockParam[] =>
  text ? [{ type: 'text', text }] : [];

const toAnthropicTool = (t: ToolSpec): Anthropic.Messages.Tool => ({
  name: t.name,
  description: t.description,
  input_schema: t.parameters as Anthropic.Messages.Tool.InputSchema,
});

/**
 * `tool_use` blocks → tool calls, with the text blocks (if any) as their note;
 * otherwise the text. `undefined` when there is neither (other block kinds,
 * such as thinking, are not Keel's to act on).
 */
export function fromAnthropicContent(
  content: readonly Anthropic.Messages.ContentBlock[],
): RawModelReply | undefined {
  const texts: string[] = [];
  const calls: { name: string; argumentsJson: string }[] = [];
  for (const block of content) {
    if (block.type === 'text') texts.push(block.text);
    else if (block.type === 'tool_use')
      calls.push({ name: block.name, argumentsJson: JSON.stringify(block.input ?? {}) });
  }
  const text = texts.join('');
  if (calls.length > 0) return { kind: 'tool_calls', calls, ...(text ? { note: text } : {}) };
  return texts.length > 0 ? { kind: 'text', text } : undefined;
}

/** Map SDK/transport errors onto the shared classification (order matters: subclasses first). */
function classifyAnthropicError(err: unknown): ModelCallError {
  if (err instanceof ModelCallError) return err;
  if (err instanceof Anthropic.APIUserAbortError) return abortedError(err);
  if (err instanceof Anthropic.APIConnectionTimeoutError) return timeoutError(err);
  if (err instanceof Anthropic.APIConnectionError) return connectionError(err);
  if (err instanceof Anthropic.APIError && typeof err.status === 'number') {
    return classifyHttpFailure({
      status: err.status,
      headers: err.headers as HeaderLookup | undefined,
      errorType: err.type ?? undefined,
      errorCode: err.errorCode ?? undefined,
      message: err.apiMessage ?? undefined,
      cause: err,
    });
  }
  return unexpectedError(err);
}
