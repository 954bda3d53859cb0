import type { ChatMessage } from './prompt';

/**
 * Fitting a transcript into a model's context window. Pure: no I/O, no clock.
 *
 * Token counts are estimates (about 4 characters per token), not a provider
 * tokenizer: callers should keep a margin between `budgetTokens` and the
 * model's real window.
 */

/** Per-message overhead of the chat format (role markers, separators). */
const MESSAGE_OVERHEAD_TOKENS = 4;

/**
 * Key under which a truncated tool call's arguments are sent: the arguments'
 * JSON, cut in the middle, as one string. Tool-call ids and names are never changed.
 */
export const TRUNCATED_ARGUMENTS_KEY = '_keel_truncated';

/** ceil(characters / 4): 0 for '', at least 1 for any non-empty text. */
export function estimateTokens(text: string): number {
  return Math.ceil(text.length / 4);
}

/** Content + tool-call names + JSON arguments + a fixed per-message overhead. */
export function messageTokens(m: ChatMessage): number {
  let tokens = MESSAGE_OVERHEAD_TOKENS + estimateTokens(m.content ?? '');
  if (m.role === 'assistant') {
    for (const call of m.toolCalls ?? []) {
      tokens += estimateTokens(call.name) + estimateTokens(argumentsJson(call.arguments));
    }
  }
  return tokens;
}

/** The estimated size of a whole transcript. */
export function transcriptTokens(messages: readonly ChatMessage[]): number {
  let total = 0;
  for (const m of messages) total += messageTokens(m);
  return total;
}

export interface FitToWindowResult {
  messages: ChatMessage[];
  /** How many input messages were dropped (and replaced by one notice). */
  omittedMessages: number;
  /** How many characters were cut from the middle of kept messages. */
  truncatedChars: number;
}

/**
 * Shrinks a transcript so its estimated size is at most `budgetTokens`.
 *
 * 1. If it already fits, it is returned unchanged (the same message objects).
 * 2. Otherwise whole units are dropped, oldest first. A unit is one message,
 *    or an assistant message with tool calls together with the tool messages
 *    that follow it (providers reject tool results without their call). Never
 *    dropped: system messages, the first user message (the task), and the
 *    newest unit. The dropped messages are replaced, where they were, by one
 *    user message saying how many were omitted. Order is preserved (system
 *    messages stay where they are: at the head, as `buildTranscript` puts
 *    them). An input that already has orphaned tool messages is not repaired.
 * 3. If it still does not fit, the largest texts are cut in the middle
 *    (head and tail kept, `…[<n> characters omitted]…` between), largest
 *    first, until it fits: message contents of any role, and a tool call's
 *    arguments (sent as `{ [TRUNCATED_ARGUMENTS_KEY]: '<cut JSON>' }`).
 *
 * Guarantee: for any `budgetTokens >= 256` the result fits when the
 * messages that are never dropped have the shape `buildTranscript` produces —
 * one system message, and a newest unit of at most 5 tool calls whose names
 * are at most 32 characters. (Each kept message shrinks to about 12 tokens,
 * each call to its name plus about 14.) For larger skeletons — many system
 * messages, dozens of parallel calls — the best effort is returned and may
 * exceed the budget; check it with `transcriptTokens`.
 *
 * The input is not modified. Throws RangeError for a negative or NaN budget.
 */
export function fitToWindow(
  messages: readonly ChatMessage[],
  budgetTokens: number,
): FitToWindowResult {
  if (Number.isNaN(budgetTokens) || budgetTokens < 0) {
    throw new RangeError(`budgetTokens must be >= 0, got ${budgetTokens}`);
  }
  const total = transcriptTokens(messages);
  if (total <= budgetTokens) {
    return { messages: [...messages], omittedMessages: 0, truncatedChars: 0 };
  }

  // Phase 1: drop the oldest droppable units until it fits.
  const units = groupUnits(messages);
  const unpinned = units.filter((u) => !u.pinned);
  const droppable = unpinned.slice(0, -1); // the newest unit always stays
  let keptTokens = total;
  let omitted = 0;
  let dropCount = 0;
  const withNotice = () => keptTokens + (omitted > 0 ? messageTokens(omissionNotice(omitted)) : 0);
  while (withNotice() > budgetTokens && dropCount < droppable.length) {
    const unit = droppable[dropCount++]!;
    keptTokens -= unit.tokens;
    omitted += unit.end - unit.start;
  }

  const dropped = new Set(droppable.slice(0, dropCount));
  const notice = omitted > 0 ? omissionNotice(omitted) : undefined;
  const kept: ChatMessage[] = [];
  let noticePlaced = false;
  for (const unit of units) {
    if (!dropped.has(unit)) {
      kept.push(...messages.slice(unit.start, unit.end));
    } else if (notice && !noticePlaced) {
      kept.push(notice); // where the first (oldest) dropped unit was
      noticePlaced = true;
    }
  }
  if (withNotice() <= budgetTokens) {
    return { messages: kept, omittedMessages: omitted, truncatedChars: 0 };
  }

  // Phase 2: cut the largest texts in the middle until it fits.
  const { messages: cut, truncatedChars } = truncateToFit(kept, budgetTokens, notice);
  return { messages: cut, omittedMessages: omitted, truncatedChars };
}

interface Unit {
  start: number;
  /** Exclusive. */
  end: number;
  /** System messages and the first user message: never dropped. */
  pinned: boolean;
  tokens: number;
}

function groupUnits(messages: readonly ChatMessage[]): Unit[] {
  const units: Unit[] = [];
  let seenUser = false;
  let i = 0;
  while (i < messages.length) {
    const m = messages[i]!;
    let end = i + 1;
    let pinned = false;
    if (m.role === 'system') {
      pinned = true;
    } else if (m.role === 'user' && !seenUser) {
      pinned = true;
      seenUser = true;
    } else if (m.role === 'assistant' && m.toolCalls && m.toolCalls.length > 0) {
      while (end < messages.length && messages[end]!.role === 'tool') end++;
    }
    units.push({
      start: i,
      end,
      pinned,
      tokens: transcriptTokens(messages.slice(i, end)),
    });
    i = end;
  }
  return units;
}

function omissionNotice(n: number): ChatMessage {
  return {
    role: 'user',
    content: `[Keel: ${n} earlier messages were omitted to fit the context window.]`,
  };
}

function argumentsJson(args: Record<string, unknown>): string {
  return JSON.stringify(args) ?? '{}';
}

/** One truncatable text: a message's content or one tool call's JSON arguments. */
interface Slot {
  readonly original: string;
  /** Characters of `original` to keep (head + tail). */
  keep: number;
  readonly messageIndex: number;
  /** Set for a tool call's arguments. */
  readonly callIndex?: number;
}

function truncateToFit(
  messages: readonly ChatMessage[],
  budgetTokens: number,
  notice: ChatMessage | undefined,
): { messages: ChatMessage[]; truncatedChars: number } {
  const slots: Slot[] = [];
  messages.forEach((m, messageIndex) => {
    if (m === notice) return;
    if (m.content) slots.push({ original: m.content, keep: m.content.length, messageIndex });
    if (m.role === 'assistant') {
      m.toolCalls?.forEach((call, callIndex) => {
        const original = argumentsJson(call.arguments);
        slots.push({ original, keep: original.length, messageIndex, callIndex });
      });
    }
  });

  let current = { messages: [...messages], truncatedChars: 0 };
  for (;;) {
    const excess = transcriptTokens(current.messages) - budgetTokens;
    if (excess <= 0) break;
    if (!lowerLargest(slots, excess * 4)) break; // nothing left to cut: best effort
    current = render(messages, slots);
  }
  return current;
}

/**
 * Removes `chars` kept characters, largest slots first ("water-filling": the
 * largest is cut down to the next largest, then both together, and so on).
 * Returns false when every slot is already cut to nothing.
 */
function lowerLargest(slots: Slot[], chars: number): boolean {
  const sorted = slots.filter((s) => s.keep > 0).sort((a, b) => b.keep - a.keep);
  if (sorted.length === 0) return false;
  let sum = 0;
  let level = 0;
  for (let j = 0; j < sorted.length; j++) {
    sum += sorted[j]!.keep;
    const next = sorted[j + 1]?.keep ?? 0;
    const count = j + 1;
    if (sum - count * next >= chars) {
      level = Math.max(next, Math.floor((sum - chars) / count));
      break;
    }
  }
  // level < the largest keep (chars >= 1), so at least one slot shrinks.
  for (const s of sorted) s.keep = Math.min(s.keep, level);
  return true;
}

function render(
  messages: readonly ChatMessage[],
  slots: readonly Slot[],
): { messages: ChatMessage[]; truncatedChars: number } {
  const out = [...messages];
  let truncatedChars = 0;
  const bySlotMessage = new Map<number, Slot[]>();
  for (const s of slots) {
    if (s.keep >= s.original.length) continue;
    const list = bySlotMessage.get(s.messageIndex) ?? [];
    list.push(s);
    bySlotMessage.set(s.messageIndex, list);
  }
  for (const [index, list] of bySlotMessage) {
    let m = out[index]!;
    for (const s of list) {
      const cut = cutMiddle(s.original, s.keep);
      if (cut.omitted === 0) continue;
      truncatedChars += cut.omitted;
      if (s.callIndex === undefined) {
        m = { ...m, content: cut.text };
      } else if (m.role === 'assistant' && m.toolCalls) {
        const calls = [...m.toolCalls];
        calls[s.callIndex] = {
          ...calls[s.callIndex]!,
          arguments: { [TRUNCATED_ARGUMENTS_KEY]: cut.text },
        };
        m = { ...m, toolCalls: calls };
      }
    }
    out[index] = m;
  }
  return { messages: out, truncatedChars };
}

/**
 * Keeps about `keep` characters of `text` — half from the head, half from the
 * tail — with a marker in between, never splitting a surrogate pair. Returns
 * the text unchanged (omitted 0) when cutting would not make it shorter.
 */
function cutMiddle(text: string, keep: number): { text: string; omitted: number } {
  if (keep >= text.length) return { text, omitted: 0 };
  let headEnd = Math.ceil(keep / 2);
  let tailStart = text.length - (keep - headEnd);
  if (headEnd > 0 && isHighSurrogate(text.charCodeAt(headEnd - 1))) headEnd--;
  if (tailStart < text.length && isLowSurrogate(text.charCodeAt(tailStart))) tailStart++;
  const omitted = tailStart - headEnd;
  const cut = `${text.slice(0, headEnd)}…[${omitted} characters omitted]…${text.slice(tailStart)}`;
  return cut.length < text.length ? { text: cut, omitted } : { text, omitted: 0 };
}

const isHighSurrogate = (c: number) => c >= 0xd800 && c <= 0xdbff;
const isLowSurrogate = (c: number) => c >= 0xdc00 && c <= 0xdfff;
