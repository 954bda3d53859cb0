import OpenAI from 'openai';
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
  type ToolSpec,
} from './model-client';

export interface OpenAiChatModelOptions {
  /** The deployment's name for this endpoint (breaker key, recorded on events). */
  readonly provider: string;
  /** e.g. `https://api.openai.com/v1`, `http://localhost:11434/v1`. */
  readonly baseURL: string;
  readonly apiKey: string;
  /** Per attempt; the SDK aborts the request after it. */
  readonly timeoutMs: number;
  readonly model: string;
}

/** The `response_format` name in `json` mode. */
export const JSON_REPLY_SCHEMA_NAME = 'keel_decision';

/**
 * OpenAI chat-completions provider (OpenAI, vLLM, Ollama, llama.cpp, LM Studio,
 * OpenRouter ...) through the official SDK with its retries off: Keel's own
 * policy decides what is retried. Prompts and completions never go into spans.
 */
export class OpenAiChatModel implements ModelClient {
  readonly system = 'openai' as const;
  readonly provider: string;
  readonly model: string;
  private readonly client: OpenAI;

  constructor(opts: OpenAiChatModelOptions) {
    this.provider = opts.provider;
    this.model = opts.model;
    this.client = new OpenAI({
      baseURL: opts.baseURL,
      apiKey: opts.apiKey,
      maxRetries: 0,
      fetch: keepAliveFetch,
      timeout: opts.timeoutMs,
    });
  }

  complete(args: ModelCallArgs): Promise<ModelReply> {
    return inModelCallSpan(this, classifyOpenAiError, async () => {
      const started = performance.now();
      const res = await this.client.chat.completions.create(
        {
          model: this.model,
          messages: args.messages.map(toOpenAi),
          max_tokens: args.maxOutputTokens,
          ...modeParams(args),
        },
        {
          headers: { 'Idempotency-Key': args.idempotencyKey },
          ...(args.signal ? { signal: args.signal } : {}),
        },
      );
      const latencyMs = performance.now() - started;
      const message = res.choices?.[0]?.message;
      if (!message) throw emptyReplyError();
      const usage = {
        inputTokens: res.usage?.prompt_tokens ?? 0,
        outputTokens: res.usage?.completion_tokens ?? 0,
      };
      const calls = (message.tool_calls ?? []).flatMap((c) =>
        c.type === 'function'
          ? [{ name: c.function.name, argumentsJson: c.function.arguments }]
          : [],
      );
      const reply: ModelReply['reply'] =
        calls.length > 0
          ? { kind: 'tool_calls', calls, ...(message.content ? { note: message.content } : {}) }
          : { kind: 'text', text: message.content ?? '' };
      return { reply, model: res.model || this.model, usage, latencyMs };
    });
  }
}

/**
 * `native`: the tools, offered natively. `json`: no tools; the reply must be one
 * JSON object, constrained by `responseSchema` when given (`strict: false`, so
 * schemas outside OpenAI's strict subset are accepted).
 */
function modeParams(
  args: ModelCallArgs,
): Pick<OpenAI.Chat.ChatCompletionCreateParamsNonStreaming, 'tools' | 'response_format'> {
  if (args.mode === 'json') {
    return {
      response_format: args.responseSchema
        ? {
            type: 'json_schema',
            json_schema: {
              name: JSON_REPLY_SCHEMA_NAME,
              schema: args.responseSchema,
              strict: false,
            },
          }
        : { type: 'json_object' },
    };
  }
  return args.tools.length > 0 ? { tools: args.tools.map(toOpenAiTool) } : {};
}

function toOpenAi(m: ChatMessage): OpenAI.Chat.ChatCompletionMessageParam {
  switch (m.role) {
    case 'system':
    case 'user':
      return { role: m.role, content: m.content };
    case 'assistant':
      return m.toolCalls
        ? {
            role: 'assistant',
            content: m.content,
            tool_calls: m.toolCalls.map((c) => ({
              id: c.id,
              type: 'function' as const,
              function: { name: c.name, arguments: JSON.stringify(c.arguments) },
            })),
          }
        : { role: 'assistant', content: m.content ?? '' };
    case 'tool':
      return { role: 'tool', tool_call_id: m.toolCallId, content: m.content };
    default: {
      const unreachable: never = m;
      return unreachable;
    }
  }
}

const toOpenAiTool = (t: ToolSpec): OpenAI.Chat.ChatCompletionTool => ({
  type: 'function',
  function: { name: t.name, description: t.description, parameters: t.parameters },
});

/** Map SDK/transport errors onto the shared classification (order matters: subclasses first). */
function classifyOpenAiError(err: unknown): ModelCallError {
  if (err instanceof ModelCallError) return err;
  if (err instanceof OpenAI.APIUserAbortError) return abortedError(err);
  if (err instanceof OpenAI.APIConnectionTimeoutError) return timeoutError(err);
  if (err instanceof OpenAI.APIConnectionError) return connectionError(err);
  if (err instanceof OpenAI.APIError && typeof err.status === 'number') {
    const body = err.error as { message?: unknown } | undefined;
    return classifyHttpFailure({
      status: err.status,
      headers: err.headers as HeaderLookup | undefined,
      errorType: err.type ?? undefined,
      errorCode: err.code ?? undefined,
      message: typeof body?.message === 'string' ? body.message : undefined,
      cause: err,
    });
  }
  return unexpectedError(err);
}
