import { RunRequest, type ModelDecision, type RunEvent } from '@keel/contracts';
import {
  decideModelDecision,
  decideStartRun,
  decideToolOutcome,
  nextAction,
  type RunDefaults,
} from './decide';
import { foldRun } from './evolve';
import { buildTranscript } from './prompt';
import type { RunState } from './run-state';

const runId = '0190f5a0-0000-7000-8000-000000000001';
const callId = '0190f5a0-0000-5000-8000-000000000002';
const now = new Date('2026-11-21T10:00:00Z');
const defaults: RunDefaults = {
  maxSteps: 10,
  maxToolCalls: 5,
  maxTokens: 10_000,
  deadlineMs: 60_000,
};
const request = RunRequest.parse({
  requestId: 'r-1',
  tenant: 'acme',
  input: { prompt: 'What is 6*7?' },
  tools: ['calculator'],
});
const poolOf = () => 'default';
const call = { callId, tool: 'calculator', input: { expression: '6*7' } };
const decision = (step: number, d: ModelDecision) => ({
  step,
  decision: d,
  usage: { inputTokens: 1, outputTokens: 1 },
  model: 'm',
  promptVersion: 'p',
  latencyMs: 1,
  poolOf,
});

const given = (events: RunEvent[]): RunState => foldRun(events);
const started = decideStartRun({ status: 'none' }, { request, runId, now, defaults });
const toolDecision = decideModelDecision(given(started), {
  step: 1,
  decision: {
    kind: 'tool_calls',
    calls: [{ callId, tool: 'calculator', input: { expression: '6*7' } }],
  },
  usage: { inputTokens: 10, outputTokens: 5 },
  model: 'm',
  promptVersion: 'p',
  latencyMs: 1,
  poolOf,
});

describe('run decider', () => {
  describe('given no run', () => {
    it('starts one with the deployment defaults and a deadline', () => {
      expect(started).toHaveLength(1);
      const e = started[0]!;
      expect(e.type).toBe('RunRequested');
      if (e.type !== 'RunRequested') return;
      expect(e.data.limits).toEqual({
        maxSteps: 10,
        maxToolCalls: 5,
        maxTokens: 10_000,
        deadlineAt: '2026-11-21T10:01:00.000Z',
      });
      expect(nextAction(given(started))).toEqual({ kind: 'call_model', step: 1 });
    });
  });

  describe('given a started run', () => {
    it('a second start is a no-op (duplicate request)', () => {
      expect(decideStartRun(given(started), { request, runId, now, defaults })).toEqual([]);
    });

    it('a tool decision requests the tool with a step-derived idempotency key and waits', () => {
      expect(toolDecision.map((e) => e.type)).toEqual([
        'ModelDecisionRecorded',
        'ToolCallRequested',
      ]);
      const req = toolDecision[1]!;
      if (req.type !== 'ToolCallRequested') throw new Error('expected ToolCallRequested');
      expect(req.data.idempotencyKey).toBe(`${runId}:1:0`);
      expect(nextAction(given([...started, ...toolDecision]))).toEqual({ kind: 'wait_for_tools' });
    });

    it('a decision for a step already recorded is ignored', () => {
      const again = decideModelDecision(given([...started, ...toolDecision]), {
        step: 1,
        decision: { kind: 'final', answer: 'x' },
        usage: { inputTokens: 1, outputTokens: 1 },
        model: 'm',
        promptVersion: 'p',
        latencyMs: 1,
        poolOf,
      });
      expect(again).toEqual([]);
    });
  });

  describe('given a pending tool call', () => {
    const state = () => given([...started, ...toolDecision]);
    it('records its outcome once, then plans again with the result in the transcript', () => {
      const recorded = decideToolOutcome(state(), {
        callId,
        outcome: { ok: true, output: { value: 42 } },
      });
      expect(recorded.map((e) => e.type)).toEqual(['ToolResultRecorded']);
      const after = given([...started, ...toolDecision, ...recorded]);
      expect(nextAction(after)).toEqual({ kind: 'call_model', step: 2 });
      expect(
        decideToolOutcome(after, { callId, outcome: { ok: true, output: { value: 42 } } }),
      ).toEqual([]);
      if (after.status === 'none') throw new Error('unreachable');
      const transcript = buildTranscript(after);
      expect(transcript.map((m) => m.role)).toEqual(['system', 'user', 'assistant', 'tool']);
    });

    it('ignores an outcome for an unknown call', () => {
      expect(
        decideToolOutcome(state(), { callId: runId, outcome: { ok: true, output: {} } }),
      ).toEqual([]);
    });
  });

  describe('limits', () => {
    it('fails the run instead of exceeding the tool-call limit', () => {
      const tight = decideStartRun(
        { status: 'none' },
        { request: { ...request, limits: { maxToolCalls: 0 } }, runId, now, defaults },
      );
      const events = decideModelDecision(given(tight), {
        step: 1,
        decision: { kind: 'tool_calls', calls: [{ callId, tool: 'calculator', input: {} }] },
        usage: { inputTokens: 1, outputTokens: 1 },
        model: 'm',
        promptVersion: 'p',
        latencyMs: 1,
        poolOf,
      });
      expect(events.map((e) => e.type)).toEqual(['ModelDecisionRecorded', 'RunFailed']);
    });

    it('stops planning at the step limit', () => {
      const one = decideStartRun(
        { status: 'none' },
        { request: { ...request, limits: { maxSteps: 1 } }, runId, now, defaults },
      );
      const decided = [
        ...one,
        ...decideModelDecision(given(one), decision(1, { kind: 'tool_calls', calls: [call] })),
      ];
      const done = [
        ...decided,
        ...decideToolOutcome(given(decided), { callId, outcome: { ok: true, output: {} } }),
      ];
      expect(nextAction(given(done))).toMatchObject({
        kind: 'fail',
        error: { code: 'STEP_LIMIT' },
      });
    });
  });

  describe('a final round of tool calls', () => {
    const finalRound = [
      ...started,
      ...decideModelDecision(
        given(started),
        decision(1, { kind: 'tool_calls', calls: [call], final: true }),
      ),
    ];

    it('completes the run with the tool output when the call succeeds, without asking the model again', () => {
      const events = decideToolOutcome(given(finalRound), {
        callId,
        outcome: { ok: true, output: { value: 42 } },
      });
      expect(events.map((e) => e.type)).toEqual(['ToolResultRecorded', 'RunCompleted']);
      expect(events[1]).toMatchObject({ data: { answer: '{"value":42}', steps: 1 } });
      expect(nextAction(given([...finalRound, ...events]))).toEqual({ kind: 'finished' });
    });

    it('goes back to the model when the call fails', () => {
      const events = decideToolOutcome(given(finalRound), {
        callId,
        outcome: { ok: false, error: { code: 'TOOL_ERROR', message: 'x', retryable: false } },
      });
      expect(events.map((e) => e.type)).toEqual(['ToolResultRecorded']);
      expect(nextAction(given([...finalRound, ...events]))).toEqual({
        kind: 'call_model',
        step: 2,
      });
    });
  });
});
