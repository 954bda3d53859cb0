import type {
  ChatMessage,
  ContentReply,
  ModelScript,
  ScriptedReply,
  ToolCallsReply,
} from './types';

/**
 * Replies in Keel's decision format (see docs/planner.md): a final answer is
 * one JSON object; tool calls carry a JSON note with confidence and reasoning.
 */
export function finalReply(
  answer: string,
  opts: { confidence?: number; reasoning?: string } = {},
): ContentReply {
  return {
    content: JSON.stringify({
      action: 'final',
      answer,
      confidence: opts.confidence ?? 0.9,
      reasoning: opts.reasoning ?? 'scripted answer',
    }),
  };
}

export function toolCallsReply(
  calls: ToolCallsReply['toolCalls'],
  opts: { confidence?: number; reasoning?: string; final?: boolean } = {},
): ToolCallsReply {
  return {
    toolCalls: calls,
    content: JSON.stringify({
      confidence: opts.confidence ?? 0.9,
      reasoning: opts.reasoning ?? 'scripted tool use',
      ...(opts.final ? { final: true } : {}),
    }),
  };
}

/** A question for a person, in Keel's decision format. */
export function askHumanReply(question: string, confidence = 0.3): ContentReply {
  return {
    content: JSON.stringify({ action: 'ask_human', question, confidence, reasoning: 'unsure' }),
  };
}

/** Reply `i` to call `i`; once the list runs out the last reply repeats. */
export function sequenceScript(replies: readonly ScriptedReply[]): ModelScript {
  const last = replies[replies.length - 1];
  if (!last) throw new RangeError('sequenceScript needs at least one reply');
  return (_request, index) => replies[index] ?? last;
}

/**
 * A model that uses the `calculator` tool once and answers with its result.
 * Stateless (it looks only at the conversation), so a replayed or retried
 * request gets the same reply:
 *   - last message is not a tool result → tool call `calculator({ expression })`
 *   - last message is a tool result `{ "value": v }` → final answer `${answerPrefix}${v}`
 *     (replies are in Keel's decision format: `finalReply` / `toolCallsReply`)
 *   - a tool result without `value` (an error) → `tool error: <content>`, which
 *     deliberately lacks the prefix so a test expecting the answer fails clearly.
 */
export function calculatorScript(expression: string, answerPrefix: string): ModelScript {
  return (request) => {
    const lastMessage = request.messages[request.messages.length - 1];
    if (lastMessage?.role !== 'tool') {
      return toolCallsReply([{ name: 'calculator', arguments: { expression } }]);
    }
    const text = messageText(lastMessage);
    const value = toolResultValue(text);
    return value === undefined
      ? finalReply(`tool error: ${text}`)
      : finalReply(`${answerPrefix}${value}`);
  };
}

/** A chat message's text: its string content, or its text parts joined (none: ''). */
export function messageText(message: ChatMessage | undefined): string {
  if (!message) return '';
  if (typeof message.content === 'string') return message.content;
  return (message.content ?? []).map((p) => p.text ?? '').join('');
}

function toolResultValue(text: string): string | undefined {
  try {
    const parsed: unknown = JSON.parse(text);
    if (typeof parsed === 'object' && parsed !== null && 'value' in parsed) {
      const value = parsed.value;
      return typeof value === 'string' ? value : JSON.stringify(value);
    }
  } catch {
    // not JSON: treated as an error result
  }
  return undefined;
}
