import type { RunEvent } from '@keel/contracts';
import { decideModelDecision } from './decide-model';
import { decideToolOutcome } from './decide-tools';
import { foldRun } from './evolve';
import { nextAction } from './next-action';
import { buildTranscript } from './prompt';
import {
  BEFORE_DEADLINE,
  callId,
  expectStatus,
  given,
  ok,
  recordDecision,
  roundResults,
  RUN_ID,
  runRequested,
  toolCallsDecision,
  toolError,
  toolResultRecorded,
  toolRound,
  usage,
} from './test-fixtures';

const THREE = [
  { tool: 'search', input: { q: 'weather Lisbon' } },
  { tool: 'search', input: { q: 'weather Porto' } },
  { tool: 'calculator', input: { expression: '20*9/5+32' } },
];
const OUTPUTS = [{ celsius: 20 }, { celsius: 17 }, { value: 68 }];
const requested = [runRequested()];

/** Records outcomes one at a time, each decided against the state the previous ones left. */
function recordOutcomes(
  stream: RunEvent[],
  outcomes: readonly { index: number; output: Record<string, unknown> }[],
): { stream: RunEvent[]; perOutcome: RunEvent[][] } {
  const perOutcome: RunEvent[][] = [];
  for (const o of outcomes) {
    const events = decideToolOutcome(given(stream), {
      callId: callId(1, o.index),
      outcome: ok(o.output),
    });
    perOutcome.push(events);
    stream = [...stream, ...events];
  }
  return { stream, perOutcome };
}

describe('decideToolOutcome', () => {
  describe('given three parallel calls requested at once', () => {
    const decided = decideModelDecision(
      given(requested),
      recordDecision(1, toolCallsDecision(1, THREE)),
    );
    const waiting = [...requested, ...decided];

    it('then all three are requested in the same step with their own keys', () => {
      expect(decided.map((e) => e.type)).toEqual([
        'ModelDecisionRecorded',
        'ToolCallRequested',
        'ToolCallRequested',
        'ToolCallRequested',
      ]);
      const keys = decided.flatMap((e) =>
        e.type === 'ToolCallRequested' ? [e.data.idempotencyKey] : [],
      );
      expect(keys).toEqual([0, 1, 2].map((i) => `${RUN_ID}:1:${i}`));
      expect(expectStatus(given(waiting), 'awaiting_tools').pending).toHaveLength(3);
    });

    it('when results arrive out of order, the run plans again only after the third', () => {
      const { stream, perOutcome } = recordOutcomes(waiting, [
        { index: 2, output: OUTPUTS[2]! },
        { index: 0, output: OUTPUTS[0]! },
        { index: 1, output: OUTPUTS[1]! },
      ]);
      expect(perOutcome).toEqual([
        [toolResultRecorded(1, 2, 'calculator', ok(OUTPUTS[2]!))],
        [toolResultRecorded(1, 0, 'search', ok(OUTPUTS[0]!))],
        [toolResultRecorded(1, 1, 'search', ok(OUTPUTS[1]!))],
      ]);
      const statuses = [1, 2, 3].map((n) => foldRun(stream.slice(0, waiting.length + n)).status);
      expect(statuses).toEqual(['awaiting_tools', 'awaiting_tools', 'planning']);
      expect(nextAction(foldRun(stream.slice(0, -1)), BEFORE_DEADLINE)).toEqual({
        kind: 'wait_for_tools',
      });
      expect(nextAction(given(stream), BEFORE_DEADLINE)).toEqual({
        kind: 'call_model',
        step: 2,
        synthesis: false,
      });
    });

    describe('when all three results are in', () => {
      const { stream } = recordOutcomes(waiting, [
        { index: 1, output: OUTPUTS[1]! },
        { index: 0, output: OUTPUTS[0]! },
        { index: 2, output: OUTPUTS[2]! },
      ]);
      const state = expectStatus(given(stream), 'planning');

      it('then, natively, the model sees its calls and every outcome by call id', () => {
        const messages = buildTranscript(state, {
          mode: 'native',
          tools: [],
          contextTokens: 100_000,
        });
        expect(messages.map((m) => m.role)).toEqual([
          'system',
          'user',
          'assistant',
          'tool',
          'tool',
          'tool',
        ]);
        const assistant = messages[2];
        if (assistant?.role !== 'assistant') throw new Error('expected the assistant turn');
        expect(assistant.toolCalls).toEqual(
          THREE.map((c, i) => ({ id: callId(1, i), name: c.tool, arguments: c.input })),
        );
        expect(messages.slice(3)).toEqual([
          { role: 'tool', toolCallId: callId(1, 1), content: JSON.stringify(OUTPUTS[1]) },
          { role: 'tool', toolCallId: callId(1, 0), content: JSON.stringify(OUTPUTS[0]) },
          { role: 'tool', toolCallId: callId(1, 2), content: JSON.stringify(OUTPUTS[2]) },
        ]);
      });

      it('then, in JSON mode, every outcome is a user message naming the call', () => {
        const messages = buildTranscript(state, {
          mode: 'json',
          tools: [],
          contextTokens: 100_000,
        });
        expect(messages.map((m) => m.role)).toEqual([
          'system',
          'user',
          'assistant',
          'user',
          'user',
          'user',
        ]);
        expect(JSON.parse(messages[2]!.content!)).toEqual({
          action: 'call_tools',
          calls: THREE,
          confidence: 0.9,
          reasoning: 'the tools will tell',
        });
        expect(messages.slice(3).map((m) => m.content)).toEqual([
          `Result of tool call ${callId(1, 1)} (search): {"celsius":17}`,
          `Result of tool call ${callId(1, 0)} (search): {"celsius":20}`,
          `Result of tool call ${callId(1, 2)} (calculator): {"value":68}`,
        ]);
      });
    });
  });

  describe('given a pending call', () => {
    const SEARCH = [{ tool: 'search' }];
    const stream = [...requested, ...toolRound(1, SEARCH)];

    it('when its outcome is a failure, then it is recorded and shown to the model as an error', () => {
      const events = decideToolOutcome(given(stream), {
        callId: callId(1, 0),
        outcome: toolError('TOOL_TIMEOUT', 'search timed out after 10s'),
      });
      expect(events).toEqual([
        toolResultRecorded(1, 0, 'search', toolError('TOOL_TIMEOUT', 'search timed out after 10s')),
      ]);
      const state = expectStatus(foldRun(events, given(stream)), 'planning');
      const messages = buildTranscript(state, {
        mode: 'native',
        tools: [],
        contextTokens: 100_000,
      });
      expect(messages.at(-1)).toEqual({
        role: 'tool',
        toolCallId: callId(1, 0),
        content: '{"error":{"code":"TOOL_TIMEOUT","message":"search timed out after 10s"}}',
      });
    });

    it('when an outcome arrives for an unknown call, then nothing is recorded', () => {
      expect(decideToolOutcome(given(stream), { callId: callId(7, 0), outcome: ok({}) })).toEqual(
        [],
      );
    });

    it('when the same outcome arrives twice, then it is recorded once', () => {
      const first = decideToolOutcome(given(stream), { callId: callId(1, 0), outcome: ok({}) });
      expect(first).toHaveLength(1);
      expect(
        decideToolOutcome(given([...stream, ...first]), { callId: callId(1, 0), outcome: ok({}) }),
      ).toEqual([]);
    });

    it('when the run is not waiting for tools, then a late outcome is ignored', () => {
      expect(
        decideToolOutcome(given(requested), { callId: callId(1, 0), outcome: ok({}) }),
      ).toEqual([]);
      expect(decideToolOutcome(given([]), { callId: callId(1, 0), outcome: ok({}) })).toEqual([]);
    });
  });

  describe('given a final round (its results are the answer)', () => {
    const TWO = [
      { tool: 'search', input: { q: 'a' } },
      { tool: 'calculator', input: { expression: '1+1' } },
    ];
    const stream = [...requested, ...toolRound(1, TWO, { final: true })];

    it('when every call succeeds, then the run completes with their outputs in call order', () => {
      const first = decideToolOutcome(given(stream), {
        callId: callId(1, 1),
        outcome: ok({ value: 2 }),
      });
      expect(first.map((e) => e.type)).toEqual(['ToolResultRecorded']);
      const last = decideToolOutcome(given([...stream, ...first]), {
        callId: callId(1, 0),
        outcome: ok({ hits: 3 }),
      });
      expect(last).toEqual([
        toolResultRecorded(1, 0, 'search', ok({ hits: 3 })),
        {
          type: 'RunCompleted',
          data: { answer: '[{"hits":3},{"value":2}]', steps: 1, usage: usage() },
        },
      ]);
      expect(given([...stream, ...first, ...last]).status).toBe('completed');
    });

    it('when its only call succeeds, then the answer is that output', () => {
      const one = [...requested, ...toolRound(1, [{ tool: 'search' }], { final: true })];
      const events = decideToolOutcome(given(one), {
        callId: callId(1, 0),
        outcome: ok({ hits: 3 }),
      });
      expect(events[1]).toEqual({
        type: 'RunCompleted',
        data: { answer: '{"hits":3}', steps: 1, usage: usage() },
      });
    });

    it('when one call fails, then the model is asked again instead', () => {
      const failed = decideToolOutcome(given(stream), {
        callId: callId(1, 0),
        outcome: toolError(),
      });
      const last = decideToolOutcome(given([...stream, ...failed]), {
        callId: callId(1, 1),
        outcome: ok({ value: 2 }),
      });
      expect(last.map((e) => e.type)).toEqual(['ToolResultRecorded']);
      expect(given([...stream, ...failed, ...last]).status).toBe('planning');
    });
  });

  it('given an ordinary round, when its last call succeeds, then the run plans again', () => {
    const SEARCH = [{ tool: 'search' }];
    const stream = [...requested, ...toolRound(1, SEARCH)];
    const events = decideToolOutcome(given(stream), { callId: callId(1, 0), outcome: ok({}) });
    expect(events).toHaveLength(1);
    expect(given([...stream, ...events]).status).toBe('planning');
    expect(given([...stream, ...roundResults(1, SEARCH)]).status).toBe('planning');
  });
});
