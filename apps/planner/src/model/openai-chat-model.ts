import { z } from 'zod';
import type { ChatMessage } from '@keel/run-domain';
import {
  abortedError,
  badReplyError,
  classifyHttpFailure,
  connectionError,
  emptyReplyError,
  timeoutError,
  unexpectedError,
} from './classify-model-error';
import { inModelCallSpan } from './model-call-span';
import {
  ModelCallError,
  type ModelCallArgs,
  type ModelClient,
  type ModelReply,
  type ToolSpec,
} from './model-client';
import { postJson, PostJsonError, type JsonResponse } from './post-json';

export interface OpenAiChatModelOptions {
  /** The deployment's name for this endpoint (breaker key, recorded on events). */
  readonly provider: string;
  /** e.g. `https://api.openai.com/v1`, `http://localhost:11434/v1`. */
  readonly baseURL: string;
  readonly apiKey: string;
  /** Per attempt; the request is destroyed after it. */
  readonly timeoutMs: number;
  readonly model: string;
}

/** The `response_format` name in `json` mode. */
export const JSON_REPLY_SCHEMA_NAME = 'keel_decision';

/**
 * The part of a chat completion Keel reads. Loose on purpose (servers differ in
 * what else they send); what is read must have the right type.
 */
const ChatCompletion = z.object({
  model: z.string().nullish(),
  choices: z
    .array(
      z.object({
        message: z
          .object({
            content: z.string().nullish(),
            tool_calls: z
              .array(
                z.object({
                  type: z.string(),
                  function: z.object({ name: z.string(), arguments: z.string() }).optional(),
                }),
              )
              .nullish(),
          })
          .nullish(),
      }),
    )
    .nullish(),
  usage: z
    .object({
      prompt_tokens: z.number().nullish(),
      completion_tokens: z.number().nullish(),
    })
    .nullish(),
});

/** An error answer's body, as OpenAI and compatible servers send it. */
const ErrorBody = z.object({
  error: z
    .object({
      type: z.unknown().optional(),
      code: z.unknown().optional(),
      message: z.unknown().optional(),
    })
    .nullish(),
});

/**
 * OpenAI chat-completions provider (OpenAI, vLLM, Ollama, llama.cpp, LM Studio,
 * OpenRouter ...) over a lean JSON-over-HTTP client (`postJson`) rather than
 * the official SDK: the SDK's request building and WHATWG fetch plumbing cost
 * more CPU than the rest of a model step, and Keel uses none of its features
 * (no streaming, its own retry policy). The answer is checked with zod.
 * Prompts and completions never go into spans.
 */
export class OpenAiChatModel implements ModelClient {
  readonly system = 'openai' as const;
  readonly provider: string;
  readonly model: string;
  private readonly url: URL;
  private readonly timeoutMs: number;
  /** A true private field: the key is not an enumerable property a logger could print. */
  readonly #authorization: string;

  constructor(opts: OpenAiChatModelOptions) {
    this.provider = opts.provider;
    this.model = opts.model;
    this.url = new URL(`${opts.baseURL.replace(/\/+$/, '')}/chat/completions`);
    this.timeoutMs = opts.timeoutMs;
    this.#authorization = `Bearer ${opts.apiKey}`;
  }

  complete(args: ModelCallArgs): Promise<ModelReply> {
    return inModelCallSpan(this, classifyTransportError, async () => {
      const started = performance.now();
      const body = JSON.stringify({
        model: this.model,
        messages: args.messages.map(toOpenAi),
        max_tokens: args.maxOutputTokens,
        ...modeParams(args),
      });
      const res = await postJson(this.url, body, {
        headers: { authorization: this.#authorization, 'idempotency-key': args.idempotencyKey },
        timeoutMs: this.timeoutMs,
        signal: args.signal,
      });
      const latencyMs = performance.now() - started;
      if (res.status < 200 || res.status >= 300) throw httpFailure(res);
      const parsed = ChatCompletion.safeParse(JSON.parse(res.text));
      if (!parsed.success) throw badReplyError('not a chat completion');
      const completion = parsed.data;
      const message = completion.choices?.[0]?.message;
      if (!message) throw emptyReplyError();
      const usage = {
        inputTokens: completion.usage?.prompt_tokens ?? 0,
        outputTokens: completion.usage?.completion_tokens ?? 0,
      };
      const calls = (message.tool_calls ?? []).flatMap((c) =>
        c.type === 'function' && c.function
          ? [{ name: c.function.name, argumentsJson: c.function.arguments }]
          : [],
      );
      const reply: ModelReply['reply'] =
        calls.length > 0
          ? { kind: 'tool_calls', calls, ...(message.content ? { note: message.content } : {}) }
          : { kind: 'text', text: message.content ?? '' };
      return { reply, model: completion.model || this.model, usage, latencyMs };
    });
  }
}
/**
 * `native`: the tools, offered natively. `json`: no tools; the reply must be one
 * JSON object, constrained by `responseSchema` when given (`strict: false`, so
 * schemas outside OpenAI's strict subset are accepted).
 */
function modeParams(args: ModelCallArgs): Record<string, unknown> {
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

function toOpenAi(m: ChatMessage): Record<string, unknown> {
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

const toOpenAiTool = (t: ToolSpec) => ({
  type: 'function',
  function: { name: t.name, description: t.description, parameters: t.parameters },
});

/** A non-2xx answer: its status, headers and the provider's error fields, classified. */
function httpFailure(res: JsonResponse): ModelCallError {
  let error: { type?: unknown; code?: unknown; message?: unknown } | null | undefined;
  try {
    error = ErrorBody.safeParse(JSON.parse(res.text)).data?.error;
  } catch {
    error = undefined; // not JSON (a proxy's HTML page): the status decides
  }
  const str = (v: unknown) => (typeof v === 'string' ? v : undefined);
  return classifyHttpFailure({
    status: res.status,
    headers: res.headers,
    errorType: str(error?.type),
    errorCode: str(error?.code),
    message: str(error?.message),
  });
}

/** Transport failures onto the shared classification; anything else is unexpected. */
function classifyTransportError(err: unknown): ModelCallError {
  if (err instanceof ModelCallError) return err;
  if (err instanceof PostJsonError) {
    if (err.reason === 'timeout') return timeoutError(err);
    if (err.reason === 'aborted') return abortedError(err);
    return connectionError(err);
  }
  return unexpectedError(err);
}
