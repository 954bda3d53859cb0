import type {
  AnthropicContentBlock,
  AnthropicMessagesRequest,
  AnthropicTextBlock,
  AnthropicToolResultBlock,
  AnthropicToolUseBlock,
} from './anthropic-types';
import { replyUsage } from './responses';
import type {
  ChatCompletionRequest,
  ChatMessage,
  ChatTool,
  ContentReply,
  StatusFault,
  ToolCallsReply,
} from './types';

/**
 * The Anthropic Messages protocol (`POST /v1/messages`, non-streaming) on the
 * scripted model: requests are translated into the OpenAI-shaped
 * `ChatCompletionRequest` the scripts read, so one `ModelScript` drives both
 * protocols, and the script's reply is rendered back in Anthropic's format.
 */

/** The parsed request, or why it is refused (Anthropic's own required fields). */
export function parseAnthropicRequest(raw: string): AnthropicMessagesRequest | string {
  let parsed: unknown;
  try {
    parsed = JSON.parse(raw);
  } catch {
    return 'request body is not JSON';
  }
  if (typeof parsed !== 'object' || parsed === null) return 'request body is not a JSON object';
  const body = parsed as Partial<AnthropicMessagesRequest>;
  if (typeof body.model !== 'string' || !body.model) return 'model: Field required';
  if (typeof body.max_tokens !== 'number') return 'max_tokens: Field required';
  if (!Array.isArray(body.messages) || body.messages.length === 0)
    return 'messages: must be a non-empty array';
  return checkToolTurns(body.messages) ?? (body as AnthropicMessagesRequest);
}

const TOOL_USE_ID = /^[a-zA-Z0-9_-]+$/;

/**
 * The tool-turn rules the real API enforces with a 400, so a client that gets
 * them wrong fails here too: `tool_use` ids match `^[a-zA-Z0-9_-]+$`; every
 * `tool_use` has its `tool_result` in the very next (user) message; every
 * `tool_result` answers a `tool_use` of the message right before it.
 */
function checkToolTurns(messages: readonly AnthropicMessagesRequest['messages'][number][]) {
  const blocksOf = (i: number): AnthropicContentBlock[] => {
    const content: unknown = messages[i]?.content;
    return Array.isArray(content) ? content.filter(isBlock) : [];
  };
  for (let i = 0; i < messages.length; i++) {
    const uses = blocksOf(i).filter(isToolUse);
    const bad = uses.find((b) => typeof b.id !== 'string' || !TOOL_USE_ID.test(b.id));
    if (bad) return `messages.${i}: tool_use.id: String should match pattern '^[a-zA-Z0-9_-]+$'`;
    if (messages[i]?.role === 'assistant' && uses.length > 0 && i + 1 < messages.length) {
      const answered = new Set(
        blocksOf(i + 1)
          .filter(isToolResult)
          .map((b) => b.tool_use_id),
      );
      const missing = uses.filter((b) => !answered.has(b.id)).map((b) => b.id);
      if (missing.length > 0 || messages[i + 1]?.role !== 'user')
        return (
          `messages.${i}: \`tool_use\` ids were found without \`tool_result\` blocks immediately after: ` +
          `${missing.join(', ')}. Each \`tool_use\` block must have a corresponding \`tool_result\` block in the next message.`
        );
    }
    const previousUses = new Set(
      messages[i - 1]?.role === 'assistant'
        ? blocksOf(i - 1)
            .filter(isToolUse)
            .map((b) => b.id)
        : [],
    );
    const results = blocksOf(i).filter(isToolResult);
    const orphan = results.find((b) => !previousUses.has(b.tool_use_id));
    if (orphan)
      return (
        `messages.${i}.content: unexpected \`tool_use_id\` found in \`tool_result\` blocks: ${orphan.tool_use_id}. ` +
        'Each `tool_result` block must have a corresponding `tool_use` block in the previous message.'
      );
  }
  return undefined;
}

/**
 * Anthropic → OpenAI shape: `system` → a system message; text blocks → string
 * content; assistant `tool_use` blocks → `tool_calls` (same ids); user
 * `tool_result` blocks → `role: 'tool'` messages, in block order; tools →
 * function tools.
 */
export function toChatCompletionRequest(req: AnthropicMessagesRequest): ChatCompletionRequest {
  const messages: ChatMessage[] = [];
  const system = textOf(req.system);
  if (system) messages.push({ role: 'system', content: system });
  for (const m of req.messages) {
    const blocks: AnthropicContentBlock[] =
      typeof m.content === 'string'
        ? [{ type: 'text', text: m.content }]
        : Array.isArray(m.content)
          ? m.content.filter(isBlock)
          : [];
    if (m.role === 'assistant') messages.push(assistantMessage(blocks));
    else messages.push(...userMessages(blocks));
  }
  return {
    model: req.model,
    messages,
    max_tokens: req.max_tokens,
    ...(req.tools ? { tools: req.tools.map(toChatTool) } : {}),
    ...(req.tool_choice ? { tool_choice: toChatToolChoice(req.tool_choice) } : {}),
    ...(req.temperature !== undefined ? { temperature: req.temperature } : {}),
    ...(req.stream !== undefined ? { stream: req.stream } : {}),
  };
}

function assistantMessage(blocks: AnthropicContentBlock[]): ChatMessage {
  const text = blocks
    .filter(isText)
    .map((b) => b.text)
    .join('');
  const toolCalls = blocks.filter(isToolUse).map((b) => ({
    id: b.id,
    type: 'function' as const,
    function: { name: b.name, arguments: JSON.stringify(b.input ?? {}) },
  }));
  return {
    role: 'assistant',
    content: text || (toolCalls.length > 0 ? null : ''),
    ...(toolCalls.length > 0 ? { tool_calls: toolCalls } : {}),
  };
}

/** Runs of text blocks become one user message; each tool result a tool message. */
function userMessages(blocks: AnthropicContentBlock[]): ChatMessage[] {
  const out: ChatMessage[] = [];
  let text: string[] = [];
  const flush = () => {
    if (text.length > 0) out.push({ role: 'user', content: text.join('') });
    text = [];
  };
  for (const b of blocks) {
    if (isText(b)) text.push(b.text);
    else if (isToolResult(b)) {
      flush();
      out.push({ role: 'tool', tool_call_id: b.tool_use_id, content: textOf(b.content) });
    }
  }
  flush();
  return out;
}

const toChatTool = (t: NonNullable<AnthropicMessagesRequest['tools']>[number]): ChatTool => ({
  type: 'function',
  function: {
    name: t.name,
    ...(t.description !== undefined ? { description: t.description } : {}),
    parameters: t.input_schema,
  },
});

function toChatToolChoice(choice: NonNullable<AnthropicMessagesRequest['tool_choice']>): unknown {
  switch (choice.type) {
    case 'any':
      return 'required';
    case 'tool':
      return { type: 'function', function: { name: choice.name } };
    default:
      return choice.type;
  }
}

function textOf(content: string | readonly { type: string; text?: string }[] | undefined): string {
  if (typeof content === 'string') return content;
  return (content ?? []).map((b) => (b.type === 'text' ? (b.text ?? '') : '')).join('');
}

const isBlock = (b: unknown): b is AnthropicContentBlock =>
  typeof b === 'object' && b !== null && typeof (b as { type?: unknown }).type === 'string';
const isText = (b: AnthropicContentBlock): b is AnthropicTextBlock =>
  b.type === 'text' && typeof (b as AnthropicTextBlock).text === 'string';
const isToolUse = (b: AnthropicContentBlock): b is AnthropicToolUseBlock => b.type === 'tool_use';
const isToolResult = (b: AnthropicContentBlock): b is AnthropicToolResultBlock =>
  b.type === 'tool_result';

export interface AnthropicMessageBodyInput {
  id: string;
  /** The translated request (for the model name and the prompt-token estimate). */
  request: ChatCompletionRequest;
  reply: ContentReply | ToolCallsReply;
  /** Allocates the next `toolu_<n>` id. */
  nextToolUseId: () => string;
}

/** A Messages API response: text and `tool_use` blocks, stop reason and usage. */
export function anthropicMessageBody({
  id,
  request,
  reply,
  nextToolUseId,
}: AnthropicMessageBodyInput) {
  const content: ({ type: 'text'; text: string } | AnthropicToolUseBlock)[] = [];
  let stopReason: 'end_turn' | 'tool_use' | 'max_tokens';
  if ('toolCalls' in reply) {
    if (reply.content) content.push({ type: 'text', text: reply.content });
    for (const call of reply.toolCalls)
      content.push({
        type: 'tool_use',
        id: nextToolUseId(),
        name: call.name,
        input: call.arguments,
      });
    stopReason = 'tool_use';
  } else {
    content.push({ type: 'text', text: reply.content });
    stopReason = reply.finishReason === 'length' ? 'max_tokens' : 'end_turn';
  }
  const usage = replyUsage(request, reply);
  return {
    id,
    type: 'message',
    role: 'assistant',
    model: request.model,
    content,
    stop_reason: stopReason,
    stop_sequence: null,
    usage: { input_tokens: usage.promptTokens, output_tokens: usage.completionTokens },
  };
}

const ERROR_TYPES: Record<number, { type: string; message: string }> = {
  400: { type: 'invalid_request_error', message: 'Invalid request (scripted)' },
  401: { type: 'authentication_error', message: 'invalid x-api-key (scripted)' },
  402: { type: 'billing_error', message: 'Your credit balance is too low (scripted)' },
  403: { type: 'permission_error', message: 'Permission denied (scripted)' },
  404: { type: 'not_found_error', message: 'Not found (scripted)' },
  413: { type: 'request_too_large', message: 'Request exceeds the maximum size (scripted)' },
  429: { type: 'rate_limit_error', message: 'Rate limit reached (scripted)' },
  500: { type: 'api_error', message: 'Internal server error (scripted)' },
  529: { type: 'overloaded_error', message: 'Overloaded (scripted)' },
};

/** Anthropic-style error body: `{ type: 'error', error: { type, message } }`. */
export function anthropicErrorBody(status: number, message?: string) {
  const known = ERROR_TYPES[status] ?? {
    type: status >= 500 ? 'api_error' : 'invalid_request_error',
    message: `HTTP ${status} (scripted)`,
  };
  return { type: 'error', error: { type: known.type, message: message ?? known.message } };
}

export function anthropicStatusFaultBody(fault: StatusFault): string {
  if (fault.body === undefined) return JSON.stringify(anthropicErrorBody(fault.status));
  return typeof fault.body === 'string' ? fault.body : JSON.stringify(fault.body);
}
