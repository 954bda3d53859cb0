import type { ChatMessage, ModelScript, ScriptedReply } from './types';

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
 *   - a tool result without `value` (an error) → `tool error: <content>`, which
 *     deliberately lacks the prefix so a test expecting the answer fails clearly.
 */
export function calculatorScript(expression: string, answerPrefix: string): ModelScript {
  return (request) => {
    const lastMessage = request.messages[request.messages.length - 1];
    if (lastMessage?.role !== 'tool') {
      return { toolCalls: [{ name: 'calculator', arguments: { expression } }] };
    }
    const text = messageText(lastMessage);
    const value = toolResultValue(text);
    return value === undefined
      ? { content: `tool error: ${text}` }
      : { content: `${answerPrefix}${value}` };
  };
}

function messageText(message: ChatMessage): string {
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
