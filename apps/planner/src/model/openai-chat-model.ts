import OpenAI from 'openai';
import { SpanKind, SpanStatusCode, trace } from '@opentelemetry/api';
import type { ChatMessage } from '@keel/run-domain';
import { GenAiAttr, GenAiOperation } from '@keel/telemetry';
import { keepAliveFetch } from './http-fetch';
import { ModelCallError, type ModelClient, type ModelReply, type ToolSpec } from './model-client';

const tracer = trace.getTracer('keel-planner');

/**
 * OpenAI chat-completions provider (OpenAI, vLLM, Ollama, llama.cpp, LM Studio,
 * OpenRouter ...) through the official SDK with its retries off: Keel's own
 * policy decides what is retried. Prompts and completions never go into spans.
 */
export class OpenAiChatModel implements ModelClient {
  private readonly client: OpenAI;

  constructor(
    opts: { baseURL: string; apiKey: string; timeoutMs: number },
    readonly model: string,
  ) {
    this.client = new OpenAI({
      baseURL: opts.baseURL,
      apiKey: opts.apiKey,
      maxRetries: 0,
      fetch: keepAliveFetch,
      timeout: opts.timeoutMs,
    });
  }

  async complete(args: Parameters<ModelClient['complete']>[0]): Promise<ModelReply> {
    return tracer.startActiveSpan(`chat ${this.model}`, { kind: SpanKind.CLIENT }, async (span) => {
      span.setAttributes({
        [GenAiAttr.operationName]: GenAiOperation.chat,
        [GenAiAttr.system]: 'openai',
        [GenAiAttr.requestModel]: this.model,
      });
      const started = performance.now();
      try {
        const res = await this.client.chat.completions.create(
          {
            model: this.model,
            messages: args.messages.map(toOpenAi),
            max_tokens: args.maxOutputTokens,
            ...(args.tools.length > 0 ? { tools: args.tools.map(toOpenAiTool) } : {}),
          },
          {
            headers: { 'Idempotency-Key': args.idempotencyKey },
            ...(args.signal ? { signal: args.signal } : {}),
          },
        );
        const latencyMs = performance.now() - started;
        const message = res.choices[0]?.message;
        if (!message)
          throw new ModelCallError('MODEL_EMPTY_REPLY', 'model returned no choices', true);
        const usage = {
          inputTokens: res.usage?.prompt_tokens ?? 0,
          outputTokens: res.usage?.completion_tokens ?? 0,
        };
        span.setAttributes({
          [GenAiAttr.responseModel]: res.model,
          [GenAiAttr.usageInputTokens]: usage.inputTokens,
          [GenAiAttr.usageOutputTokens]: usage.outputTokens,
        });
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
      } catch (err) {
        const e = classify(err);
        span.setStatus({ code: SpanStatusCode.ERROR, message: e.code });
        span.setAttribute('error.type', e.code);
        throw e;
      } finally {
        span.end();
      }
    });
  }
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

/** Map SDK/transport errors to retry-or-give-up. */
function classify(err: unknown): ModelCallError {
  if (err instanceof ModelCallError) return err;
  if (err instanceof OpenAI.APIError && typeof err.status === 'number') {
    const status = err.status;
    const headers = err.headers as Headers | undefined;
    const retryAfter = Number(headers?.get('retry-after'));
    const retryAfterMs =
      Number.isFinite(retryAfter) && retryAfter > 0 ? retryAfter * 1000 : undefined;
    const transient = status === 408 || status === 409 || status === 429 || status >= 500;
    return new ModelCallError(
      `MODEL_HTTP_${status}`,
      `model provider answered ${status}`,
      transient,
      status,
      retryAfterMs,
      { cause: err },
    );
  }
  if (err instanceof OpenAI.APIConnectionTimeoutError) {
    return new ModelCallError('MODEL_TIMEOUT', 'model call timed out', true, undefined, undefined, {
      cause: err,
    });
  }
  if (err instanceof OpenAI.APIConnectionError) {
    return new ModelCallError(
      'MODEL_CONNECTION',
      'could not reach the model provider',
      true,
      undefined,
      undefined,
      { cause: err },
    );
  }
  return new ModelCallError(
    'MODEL_ERROR',
    err instanceof Error ? err.message : String(err),
    true,
    undefined,
    undefined,
    { cause: err },
  );
}
