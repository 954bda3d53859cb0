import {
  TRUNCATED_ARGUMENTS_KEY,
  estimateTokens,
  fitToWindow,
  messageTokens,
  transcriptTokens,
} from './context-window';
import type { ChatMessage } from './prompt';

type AssistantMessage = Extract<ChatMessage, { role: 'assistant' }>;

const system: ChatMessage = { role: 'system', content: 'You are an agent running inside Keel.' };
const task: ChatMessage = { role: 'user', content: 'What is the weather in Lisbon?' };
const text = (n: number, ch = 'x') => ch.repeat(n);
const toolUnit = (id: string, resultChars: number, argChars = 10): ChatMessage[] => [
  {
    role: 'assistant',
    content: null,
    toolCalls: [{ id, name: 'http_get', arguments: { url: text(argChars, 'u') } }],
  },
  { role: 'tool', toolCallId: id, content: text(resultChars, 'r') },
];
const NOTICE = /^\[Keel: (\d+) earlier messages were omitted to fit the context window\.\]$/;
const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/;

/** Every tool message directly follows its assistant tool-call message (or a sibling result). */
function assertUnitsWhole(out: readonly ChatMessage[], input: readonly ChatMessage[]): void {
  let open: AssistantMessage | undefined;
  let answered = 0;
  const expectedResults = (a: AssistantMessage) => {
    const i = input.findIndex(
      (m) => m.role === 'assistant' && m.toolCalls?.[0]?.id === a.toolCalls?.[0]?.id,
    );
    let n = 0;
    while (input[i + 1 + n]?.role === 'tool') n++;
    return n;
  };
  const closeUnit = () => {
    if (open) expect(answered).toBe(expectedResults(open));
    open = undefined;
    answered = 0;
  };
  for (const m of out) {
    if (m.role === 'tool') {
      expect(open).toBeDefined();
      expect(open!.toolCalls!.map((c) => c.id)).toContain(m.toolCallId);
      answered++;
    } else {
      closeUnit();
      if (m.role === 'assistant' && m.toolCalls?.length) open = m;
    }
  }
  closeUnit();
}

/** Role and id of each message: what survives truncation unchanged. */
const shape = (m: ChatMessage) =>
  m.role === 'tool'
    ? `tool:${m.toolCallId}`
    : m.role === 'assistant'
      ? `assistant:${(m.toolCalls ?? []).map((c) => c.id).join(',')}`
      : m.role;

describe('estimateTokens / messageTokens', () => {
  it('estimates a quarter token per character, rounded up', () => {
    expect(estimateTokens('')).toBe(0);
    expect(estimateTokens('a')).toBe(1);
    expect(estimateTokens('abcd')).toBe(1);
    expect(estimateTokens('abcde')).toBe(2);
  });

  it('counts content, tool-call names and JSON arguments, plus 4 per message', () => {
    expect(messageTokens({ role: 'user', content: 'abcd' })).toBe(5);
    expect(messageTokens({ role: 'tool', toolCallId: 'c1', content: '' })).toBe(4);
    // '{"expression":"6*7"}' is 20 characters.
    expect(
      messageTokens({
        role: 'assistant',
        content: null,
        toolCalls: [{ id: 'c1', name: 'calc', arguments: { expression: '6*7' } }],
      }),
    ).toBe(4 + 1 + 5);
    expect(transcriptTokens([system, task])).toBe(messageTokens(system) + messageTokens(task));
  });
});

describe('fitToWindow', () => {
  describe('given a transcript within the budget', () => {
    it('then it returns the same messages, with nothing omitted or cut', () => {
      const input = [
        system,
        task,
        ...toolUnit('c1', 100),
        { role: 'assistant', content: 'Sunny.' },
      ];
      const result = fitToWindow(input as ChatMessage[], 10_000);
      expect(result.omittedMessages).toBe(0);
      expect(result.truncatedChars).toBe(0);
      expect(result.messages).not.toBe(input);
      expect(result.messages).toHaveLength(input.length);
      result.messages.forEach((m, i) => expect(m).toBe(input[i]));
    });

    it('when the budget is exactly the estimate, then it still fits unchanged', () => {
      const input = [system, task];
      expect(fitToWindow(input, transcriptTokens(input)).messages).toEqual(input);
    });
  });

  describe('given a history over the budget', () => {
    // Four tool units of 2 messages and ~260 tokens each, then a final answer.
    const history: ChatMessage[] = [
      ...toolUnit('c1', 1000),
      ...toolUnit('c2', 1000),
      ...toolUnit('c3', 1000),
      ...toolUnit('c4', 1000),
      { role: 'assistant', content: 'It is sunny.' },
    ];
    const input = [system, task, ...history];

    it('then it drops the oldest units first and marks where they were', () => {
      const budget = transcriptTokens(input) - 300; // one unit is not enough with the notice
      const result = fitToWindow(input, budget);

      expect(transcriptTokens(result.messages)).toBeLessThanOrEqual(budget);
      expect(result.omittedMessages).toBe(4);
      expect(result.truncatedChars).toBe(0);
      expect(result.messages[0]).toBe(system);
      expect(result.messages[1]).toBe(task);
      expect(result.messages[2]).toEqual({
        role: 'user',
        content: '[Keel: 4 earlier messages were omitted to fit the context window.]',
      });
      const rest = result.messages.slice(3);
      expect(rest).toHaveLength(history.length - 4);
      rest.forEach((m, i) => expect(m).toBe(history[4 + i]));
    });

    it('then it keeps a unit whole or drops it whole', () => {
      for (let budget = 100; budget <= transcriptTokens(input); budget += 7) {
        const result = fitToWindow(input, budget);
        assertUnitsWhole(result.messages, input);
        const kept = result.messages.filter((m) => m.role === 'tool').length;
        const keptCalls = result.messages.filter(
          (m) => m.role === 'assistant' && m.toolCalls,
        ).length;
        expect(kept).toBe(keptCalls);
      }
    });

    it('never leaves a tool result whose tool-call message was dropped', () => {
      // A unit whose call is large and whose result is small: dropping only the
      // call message would fit, but the unit must go as a whole.
      const unit = toolUnit('big', 10, 2000);
      const messages = [system, task, ...unit, ...toolUnit('c2', 40)];
      const result = fitToWindow(messages, transcriptTokens(messages) - 100);
      expect(result.omittedMessages).toBe(2);
      expect(result.messages.map(shape)).toEqual([
        'system',
        'user',
        'user',
        'assistant:c2',
        'tool:c2',
      ]);
    });

    it('always keeps the newest unit, cutting it when it alone is too large', () => {
      const messages = [system, task, ...toolUnit('c1', 400), ...toolUnit('c2', 100_000)];
      const result = fitToWindow(messages, 2000);
      expect(transcriptTokens(result.messages)).toBeLessThanOrEqual(2000);
      expect(result.messages.map(shape)).toEqual([
        'system',
        'user',
        'user',
        'assistant:c2',
        'tool:c2',
      ]);
      const toolResult = result.messages[4]!.content!;
      expect(toolResult).toMatch(/^r+…\[\d+ characters omitted\]…r+$/);
      expect(result.truncatedChars).toBe(100_000 - toolResult.replace(/…\[.*\]…/, '').length);
    });
  });

  describe('given a huge task prompt (40,000 tokens) and a budget of 8,000', () => {
    const head = 'BEGIN the task: summarise the following report. ';
    const tail = ' END: answer in three bullet points.';
    const prompt =
      head + 'lorem ipsum '.repeat(13_330).slice(0, 160_000 - head.length - tail.length) + tail;
    const input: ChatMessage[] = [system, { role: 'user', content: prompt }];

    it('then it cuts the middle of the prompt, keeping its head and tail', () => {
      expect(prompt).toHaveLength(160_000);
      expect(estimateTokens(prompt)).toBe(40_000);
      const result = fitToWindow(input, 8_000);
      const total = transcriptTokens(result.messages);
      expect(total).toBeLessThanOrEqual(8_000);
      expect(total).toBeGreaterThan(7_900); // cut no more than needed
      expect(result.omittedMessages).toBe(0);
      expect(result.messages[0]).toBe(system);
      const cut = result.messages[1]!.content!;
      expect(cut.startsWith(prompt.slice(0, 10_000))).toBe(true);
      expect(cut.endsWith(prompt.slice(-10_000))).toBe(true);
      expect(cut).toMatch(/…\[\d+ characters omitted\]…/);
      const omitted = Number(/…\[(\d+) characters omitted\]…/.exec(cut)![1]);
      expect(result.truncatedChars).toBe(omitted);
      expect(cut.length - cut.match(/…\[\d+ characters omitted\]…/)![0].length).toBe(
        160_000 - omitted,
      );
    });

    it('then it does not modify the input', () => {
      const before = structuredClone(input);
      fitToWindow(input, 8_000);
      expect(input).toEqual(before);
    });
  });

  it('cuts the largest texts first, across roles', () => {
    const messages: ChatMessage[] = [
      system,
      { role: 'user', content: text(40_000, 'p') },
      ...toolUnit('c1', 20_000),
    ];
    const result = fitToWindow(messages, 6_000);
    expect(transcriptTokens(result.messages)).toBeLessThanOrEqual(6_000);
    const [prompt, , toolResult] = result.messages.slice(1).map((m) => m.content ?? '');
    // ~36k characters must go: the prompt is cut to the tool result's size, then both together.
    expect(prompt!.length).toBeLessThan(40_000);
    expect(toolResult!.length).toBeLessThan(20_000);
    expect(Math.abs(prompt!.length - toolResult!.length)).toBeLessThanOrEqual(2);
    expect(result.messages[0]).toBe(system);

    // When cutting the largest alone is enough, the others are left as they are.
    const small = fitToWindow(messages, 12_000);
    expect(transcriptTokens(small.messages)).toBeLessThanOrEqual(12_000);
    expect(small.messages[1]!.content!.length).toBeLessThan(40_000);
    small.messages.slice(2).forEach((m, i) => expect(m).toBe(messages[2 + i]));
  });

  it('cuts huge tool-call arguments, keeping the call id and name', () => {
    const messages: ChatMessage[] = [
      system,
      task,
      {
        role: 'assistant',
        content: null,
        toolCalls: [
          { id: 'w1', name: 'write_file', arguments: { path: 'a.ts', body: text(60_000, 'b') } },
        ],
      },
      { role: 'tool', toolCallId: 'w1', content: '{"ok":true}' },
    ];
    const result = fitToWindow(messages, 1_000);
    expect(transcriptTokens(result.messages)).toBeLessThanOrEqual(1_000);
    const call = (result.messages[2] as AssistantMessage).toolCalls![0]!;
    expect(call.id).toBe('w1');
    expect(call.name).toBe('write_file');
    const cut = call.arguments[TRUNCATED_ARGUMENTS_KEY] as string;
    expect(cut.startsWith('{"path":"a.ts","body":"bbb')).toBe(true);
    expect(cut.endsWith('bbb"}')).toBe(true);
    expect(result.messages[3]).toBe(messages[3]);
  });

  it('never splits a surrogate pair', () => {
    const messages: ChatMessage[] = [system, { role: 'user', content: '😀'.repeat(20_001) + 'a' }];
    for (const budget of [256, 257, 1_000, 1_001, 5_000]) {
      const result = fitToWindow(messages, budget);
      expect(transcriptTokens(result.messages)).toBeLessThanOrEqual(budget);
      expect(result.messages[1]!.content).not.toMatch(LONE_SURROGATE);
    }
  });

  it('fits the documented worst-case skeleton into 256 tokens', () => {
    const calls = ['1', '2', '3', '4', '5'].map((n) => ({
      id: `call-${n}`,
      name: text(32, 'n'),
      arguments: { payload: text(200_000, 'a') },
    }));
    const messages: ChatMessage[] = [
      { role: 'system', content: text(200_000, 's') },
      { role: 'user', content: text(200_000, 'p') },
      ...Array.from({ length: 500 }, (_, i) => toolUnit(`old-${i}`, 1000)).flat(),
      { role: 'assistant', content: text(200_000, 'c'), toolCalls: calls },
      ...calls.map((c): ChatMessage => ({
        role: 'tool',
        toolCallId: c.id,
        content: text(200_000, 'r'),
      })),
    ];
    const result = fitToWindow(messages, 256);
    expect(transcriptTokens(result.messages)).toBeLessThanOrEqual(256);
    expect(result.omittedMessages).toBe(1000);
    assertUnitsWhole(result.messages, messages);
  });

  it('rejects a negative or NaN budget', () => {
    expect(() => fitToWindow([task], -1)).toThrow(RangeError);
    expect(() => fitToWindow([task], NaN)).toThrow(RangeError);
  });

  describe('property: random histories', () => {
    // mulberry32: a small seeded PRNG, so a failure is reproducible.
    function prng(seed: number) {
      let a = seed >>> 0;
      return () => {
        a = (a + 0x6d2b79f5) >>> 0;
        let t = a;
        t = Math.imul(t ^ (t >>> 15), t | 1);
        t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
        return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
      };
    }

    function randomHistory(rand: () => number): ChatMessage[] {
      const int = (max: number) => Math.floor(rand() * max);
      const size = () => (rand() < 0.1 ? int(60_000) : int(2_000));
      const str = (n: number) => (rand() < 0.2 ? '😀x' : 'abc ').repeat(Math.ceil(n / 4));
      const messages: ChatMessage[] = [
        { role: 'system', content: str(int(3_000)) },
        { role: 'user', content: str(size()) },
      ];
      let nextId = 0;
      const units = int(30);
      for (let u = 0; u < units; u++) {
        const kind = rand();
        if (kind < 0.6) {
          const calls = Array.from({ length: 1 + int(3) }, () => ({
            id: `call-${nextId++}`,
            name: `tool_${int(100)}`,
            arguments: { input: str(rand() < 0.05 ? size() : int(200)) },
          }));
          messages.push({
            role: 'assistant',
            content: rand() < 0.3 ? str(int(500)) : null,
            toolCalls: calls,
          });
          for (const c of calls) {
            messages.push({ role: 'tool', toolCallId: c.id, content: str(size()) });
          }
        } else if (kind < 0.8) {
          messages.push({ role: 'assistant', content: str(size()) });
        } else {
          messages.push({ role: 'user', content: str(size()) });
        }
      }
      return messages;
    }

    it('always fits the budget, keeps units whole, keeps order and the head and the newest unit', () => {
      const rand = prng(20261121);
      for (let run = 0; run < 300; run++) {
        const input = randomHistory(rand);
        const budget = 256 + Math.floor(rand() * 20_000);
        const result = fitToWindow(input, budget);
        const out = result.messages;

        expect(transcriptTokens(out)).toBeLessThanOrEqual(budget);
        assertUnitsWhole(out, input);
        expect(out[0]!.role).toBe('system');
        expect(out[1]!.role).toBe('user');
        expect(shape(out.at(-1)!)).toBe(shape(input.at(-1)!));
        for (const m of out) if (m.content) expect(m.content).not.toMatch(LONE_SURROGATE);

        // Order: what follows the head (and the notice) is a suffix of the input.
        const notices = out.filter((m) => m.role === 'user' && NOTICE.test(m.content));
        expect(notices.length).toBe(result.omittedMessages > 0 ? 1 : 0);
        const rest = out.slice(2 + notices.length).map(shape);
        expect(rest).toEqual(input.slice(input.length - rest.length).map(shape));
        expect(2 + result.omittedMessages + rest.length).toBe(input.length);
        if (notices[0]) {
          expect(notices[0].content).toMatch(`[Keel: ${result.omittedMessages} earlier`);
          expect(out[2]).toBe(notices[0]);
        }
        if (transcriptTokens(input) <= budget) {
          expect(out).toEqual(input);
          expect(result.truncatedChars).toBe(0);
        }
      }
    });
  });
});
