import type {
  ChatCompletionRequest,
  ChatMessage,
  ContentReply,
  StatusFault,
  ToolCallsReply,
} from './types';

/**
 * Deterministic token estimate: ceil(characters / 4), at least 1. Tests use it
 * to predict the usage the scripted model reports.
 */
export function estimateTokens(text: string): number {
  return Math.max(1, Math.ceil(text.length / 4));
}

/** The text the prompt-token estimate counts: message contents, tool-call names and arguments. */
export function promptText(messages: readonly ChatMessage[]): string {
  return messages
    .map((m) => {
      const content =
        typeof m.content === 'string'
          ? m.content
          : (m.content ?? []).map((p) => p.text ?? '').join('');
      const calls = (m.tool_calls ?? [])
        .map((c) => c.function.name + c.function.arguments)
        .join('');
      return content + calls;
    })
    .join('');
}

export interface CompletionBodyInput {
  id: string;
  request: ChatCompletionRequest;
  reply: ContentReply | ToolCallsReply;
  /** Allocates the next `call_<n>` id. */
  nextToolCallId: () => string;
}

/**
 * The token counts a reply reports: the script's override, else the estimate
 * over the prompt and over the completion (its text, tool names and JSON arguments).
 * Both protocols report the same counts for the same conversation and reply.
 */
export function replyUsage(
  request: ChatCompletionRequest,
  reply: ContentReply | ToolCallsReply,
): { promptTokens: number; completionTokens: number } {
  const completionText =
    'toolCalls' in reply
      ? (reply.content ?? '') +
        reply.toolCalls.map((c) => c.name + JSON.stringify(c.arguments)).join('')
      : reply.content;
  return {
    promptTokens: reply.usage?.promptTokens ?? estimateTokens(promptText(request.messages)),
    completionTokens: reply.usage?.completionTokens ?? estimateTokens(completionText),
  };
}

export function completionBody({ id, request, reply, nextToolCallId }: CompletionBodyInput) {
  let message: Record<string, unknown>;
  let finishReason: string;
  if ('toolCalls' in reply) {
    const toolCalls = reply.toolCalls.map((call) => ({
      id: nextToolCallId(),
      type: 'function' as const,
      function: { name: call.name, arguments: JSON.stringify(call.arguments) },
    }));
    message = {
      role: 'assistant',
      content: reply.content ?? null,
      tool_calls: toolCalls,
      refusal: null,
    };
    finishReason = 'tool_calls';
  } else {
    message = { role: 'assistant', content: reply.content, refusal: null };
    finishReason = reply.finishReason ?? 'stop';
  }
  const { promptTokens, completionTokens } = replyUsage(request, reply);
  return {
    id,
    object: 'chat.completion',
    created: Math.floor(Date.now() / 1000),
    model: request.model,
    choices: [{ index: 0, message, finish_reason: finishReason, logprobs: null }],
    usage: {
      prompt_tokens: promptTokens,
      completion_tokens: completionTokens,
      total_tokens: promptTokens + completionTokens,
    },
  };
}

const ERROR_TYPES: Record<number, { type: string; code: string; message: string }> = {
  400: { type: 'invalid_request_error', code: 'invalid_request', message: 'Invalid request' },
  401: {
    type: 'invalid_request_error',
    code: 'invalid_api_key',
    message: 'Incorrect API key provided',
  },
  404: { type: 'invalid_request_error', code: 'not_found', message: 'Not found' },
  429: { type: 'requests', code: 'rate_limit_exceeded', message: 'Rate limit reached (scripted)' },
  500: {
    type: 'server_error',
    code: 'internal_error',
    message: 'The server had an error (scripted)',
  },
  503: {
    type: 'server_error',
    code: 'service_unavailable',
    message: 'The server is overloaded (scripted)',
  },
  529: { type: 'overloaded_error', code: 'overloaded', message: 'Overloaded (scripted)' },
};

/** OpenAI-style error body: `{ error: { message, type, param, code } }`. */
export function errorBody(status: number, message?: string) {
  const known = ERROR_TYPES[status] ?? {
    type: 'api_error',
    code: `http_${status}`,
    message: `HTTP ${status} (scripted)`,
  };
  return {
    error: { message: message ?? known.message, type: known.type, param: null, code: known.code },
  };
}

export function statusFaultBody(fault: StatusFault): string {
  if (fault.body === undefined) return JSON.stringify(errorBody(fault.status));
  return typeof fault.body === 'string' ? fault.body : JSON.stringify(fault.body);
}
