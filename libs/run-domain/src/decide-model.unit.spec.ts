import type { RunEvent } from '@keel/contracts';
import { decideModelDecision, decideModelFailure, decideOutputRejected } from './decide-model';
import { foldRun } from './evolve';
import { nextAction } from './next-action';
import {
  askHumanDecision,
  BEFORE_DEADLINE,
  callId,
  decisionRecorded,
  expectStatus,
  finalDecision,
  given,
  modelFailure,
  outputRejected,
  recordDecision,
  rejectedOutput,
  REVIEW_ON,
  roundResults,
  RUN_ID,
  runRequested,
  synthesisStarted,
  toolCallRequested,
  toolCallsDecision,
  toolRound,
  usage,
} from './test-fixtures';

const SEARCH = [{ tool: 'search', input: { q: 'weather Lisbon' } }];
const requested = [runRequested()];
/** Step 1 called `search` and got its result: the run plans step 2. */
const afterOneRound = [...requested, ...toolRound(1, SEARCH), ...roundResults(1, SEARCH)];

describe('decideModelDecision', () => {
  describe('given a requested run', () => {
    const state = given(requested);

    it('when the model calls tools, then the decision and one request per call are recorded', () => {
      const decision = toolCallsDecision(1, [
        { tool: 'search', input: { q: 'weather Lisbon' } },
        { tool: 'send_email', input: { to: 'ops@acme.test' } },
      ]);
      const events = decideModelDecision(
        state,
        recordDecision(1, decision, { toolVersions: { search: '1.0.0', send_email: '2.1.0' } }),
      );
      expect(events).toEqual([
        {
          type: 'ModelDecisionRecorded',
          data: {
            step: 1,
            attempt: 1,
            role: 'reasoning',
            provider: 'openai',
            model: 'gpt-test',
            promptVersion: 'planner-test',
            toolVersions: { search: '1.0.0', send_email: '2.1.0' },
            decision,
            usage: { inputTokens: 100, outputTokens: 20 },
            latencyMs: 12,
          },
        },
        {
          type: 'ToolCallRequested',
          data: {
            step: 1,
            callId: callId(1, 0),
            tool: 'search',
            pool: 'default',
            input: { q: 'weather Lisbon' },
            idempotencyKey: `${RUN_ID}:1:0`,
          },
        },
        {
          type: 'ToolCallRequested',
          data: {
            step: 1,
            callId: callId(1, 1),
            tool: 'send_email',
            pool: 'outbound',
            input: { to: 'ops@acme.test' },
            idempotencyKey: `${RUN_ID}:1:1`,
          },
        },
      ]);
    });

    it('then the run waits for every call it requested', () => {
      const decision = toolCallsDecision(1, [{ tool: 'search' }, { tool: 'calculator' }]);
      const after = foldRun(decideModelDecision(state, recordDecision(1, decision)), state);
      const waiting = expectStatus(after, 'awaiting_tools');
      expect(waiting.pending.map((p) => p.callId)).toEqual([callId(1, 0), callId(1, 1)]);
      expect(waiting.toolCalls).toBe(2);
      expect(waiting.step).toBe(1);
      expect(nextAction(after, BEFORE_DEADLINE)).toEqual({ kind: 'wait_for_tools' });
    });

    it('when the model answers, then the run completes with the answer', () => {
      const decision = finalDecision('It is 20°C (68°F) in Lisbon.');
      expect(decideModelDecision(state, recordDecision(1, decision))).toEqual([
        decisionRecorded(1, decision),
        {
          type: 'RunCompleted',
          data: {
            answer: 'It is 20°C (68°F) in Lisbon.',
            steps: 1,
            usage: { inputTokens: 100, outputTokens: 20 },
          },
        },
      ]);
    });

    it('when the model asks a person, then the run pauses even with review disabled', () => {
      const decision = askHumanDecision('Lisbon, Portugal or Lisbon, Ohio?');
      const events = decideModelDecision(state, recordDecision(1, decision));
      expect(events).toEqual([
        decisionRecorded(1, decision),
        {
          type: 'HumanReviewRequested',
          data: {
            step: 1,
            reason: 'model_asked',
            detail: 'Lisbon, Portugal or Lisbon, Ohio?',
            proposal: decision,
            threshold: null,
          },
        },
      ]);
      expect(foldRun(events, state).status).toBe('awaiting_human');
    });

    it('when the model asks a person with review enabled, then it pauses the same way', () => {
      const decision = askHumanDecision('Which Lisbon?', 0.99);
      const events = decideModelDecision(state, recordDecision(1, decision, { review: REVIEW_ON }));
      expect(events.map((e) => e.type)).toEqual(['ModelDecisionRecorded', 'HumanReviewRequested']);
    });
  });

  describe('given review enabled (threshold 0.7, send_email is high-stakes)', () => {
    const state = given(requested);

    it('when the decision is less confident than the threshold, then it pauses for review', () => {
      const decision = finalDecision('Maybe 20°C?', 0.42);
      expect(
        decideModelDecision(state, recordDecision(1, decision, { review: REVIEW_ON })),
      ).toEqual([
        decisionRecorded(1, decision),
        {
          type: 'HumanReviewRequested',
          data: {
            step: 1,
            reason: 'low_confidence',
            detail: 'confidence 0.42 is below 0.7',
            proposal: decision,
            threshold: 0.7,
          },
        },
      ]);
    });

    it('when the decision is exactly at the threshold, then it proceeds', () => {
      const decision = finalDecision('20°C', 0.7);
      const events = decideModelDecision(state, recordDecision(1, decision, { review: REVIEW_ON }));
      expect(events.map((e) => e.type)).toEqual(['ModelDecisionRecorded', 'RunCompleted']);
    });

    it('when the decision has no confidence (a v1 decision), then it is not held for it', () => {
      const decision = finalDecision('20°C', null);
      const events = decideModelDecision(state, recordDecision(1, decision, { review: REVIEW_ON }));
      expect(events.map((e) => e.type)).toEqual(['ModelDecisionRecorded', 'RunCompleted']);
    });

    it('when a call goes to a high-stakes tool, then it pauses for approval before any call', () => {
      const decision = toolCallsDecision(1, [
        { tool: 'search' },
        { tool: 'send_email' },
        { tool: 'send_email' },
      ]);
      expect(
        decideModelDecision(state, recordDecision(1, decision, { review: REVIEW_ON })),
      ).toEqual([
        decisionRecorded(1, decision),
        {
          type: 'HumanReviewRequested',
          data: {
            step: 1,
            reason: 'high_stakes_tool',
            detail: "calls to send_email need a person's approval",
            proposal: decision,
            threshold: null,
          },
        },
      ]);
    });

    it('when a confident decision calls only ordinary tools, then the calls are requested', () => {
      const decision = toolCallsDecision(1, [{ tool: 'search' }], { confidence: 0.95 });
      const events = decideModelDecision(state, recordDecision(1, decision, { review: REVIEW_ON }));
      expect(events.map((e) => e.type)).toEqual(['ModelDecisionRecorded', 'ToolCallRequested']);
    });
  });

  describe('given review disabled', () => {
    const state = given(requested);

    it('when the decision is not confident, then it proceeds anyway', () => {
      const decision = finalDecision('Maybe 20°C?', 0.1);
      expect(decideModelDecision(state, recordDecision(1, decision)).map((e) => e.type)).toEqual([
        'ModelDecisionRecorded',
        'RunCompleted',
      ]);
    });

    it('when a call goes to a high-stakes tool, then it is requested in its pool', () => {
      const decision = toolCallsDecision(1, [{ tool: 'send_email' }]);
      const [, request] = decideModelDecision(state, recordDecision(1, decision));
      expect(request).toEqual(toolCallRequested(1, 0, 'send_email'));
      expect(request?.type === 'ToolCallRequested' && request.data.pool).toBe('outbound');
    });
  });

  describe('given the tool-call ceiling (maxToolCalls 2) with one call made', () => {
    const TWO = [{ tool: 'search' }, { tool: 'calculator' }];

    it('when the next decision would exceed it and steps remain, then the run synthesizes', () => {
      const stream = [
        runRequested({ maxToolCalls: 2 }),
        ...toolRound(1, SEARCH),
        ...roundResults(1, SEARCH),
      ];
      const decision = toolCallsDecision(2, TWO);
      const events = decideModelDecision(given(stream), recordDecision(2, decision));
      expect(events).toEqual([
        decisionRecorded(2, decision),
        { type: 'SynthesisStarted', data: { step: 3, reason: 'tool_call_limit' } },
      ]);
      const after = foldRun([...stream, ...events]);
      expect(after.status).toBe('synthesizing');
      expect(nextAction(after, BEFORE_DEADLINE)).toEqual({
        kind: 'call_model',
        step: 3,
        synthesis: true,
      });
    });

    it('then the synthesized answer ends the run degraded (TOOL_CALL_LIMIT)', () => {
      const stream = [
        runRequested({ maxToolCalls: 2 }),
        ...toolRound(1, SEARCH),
        ...roundResults(1, SEARCH),
        decisionRecorded(2, toolCallsDecision(2, TWO)),
        synthesisStarted(3, 'tool_call_limit'),
      ];
      const answer = finalDecision('About 20°C; not converted.');
      const events = decideModelDecision(given(stream), recordDecision(3, answer));
      expect(events).toEqual([
        decisionRecorded(3, answer),
        {
          type: 'RunDegraded',
          data: {
            reason: {
              code: 'TOOL_CALL_LIMIT',
              message: 'tool call limit 2 reached',
              retryable: false,
            },
            answer: 'About 20°C; not converted.',
            steps: 3,
            usage: usage(300, 60),
          },
        },
      ]);
    });

    it('when no step remains, then the run ends degraded with the results so far', () => {
      const stream = [
        runRequested({ maxToolCalls: 1, maxSteps: 2 }),
        ...toolRound(1, SEARCH),
        ...roundResults(1, SEARCH),
      ];
      const decision = toolCallsDecision(2, [{ tool: 'calculator' }]);
      const events = decideModelDecision(given(stream), recordDecision(2, decision));
      expect(events).toEqual([
        decisionRecorded(2, decision),
        {
          type: 'RunDegraded',
          data: {
            reason: {
              code: 'TOOL_CALL_LIMIT',
              message: 'tool call limit 1 would be exceeded',
              retryable: false,
            },
            answer:
              'No final answer: tool call limit 1 would be exceeded. Tool results so far (1):\n' +
              '{"tool":"search","output":{"result":"search result 0"}}',
            steps: 2,
            usage: usage(200, 40),
          },
        },
      ]);
      expect(foldRun([...stream, ...events]).status).toBe('degraded');
    });

    it('when no step remains and nothing was found, then the run fails', () => {
      const stream = [runRequested({ maxToolCalls: 1, maxSteps: 1 })];
      const decision = toolCallsDecision(1, TWO);
      const [, end] = decideModelDecision(given(stream), recordDecision(1, decision));
      expect(end?.type).toBe('RunFailed');
      expect(end?.type === 'RunFailed' && end.data.error.code).toBe('TOOL_CALL_LIMIT');
    });
  });

  describe('given a decision that does not fit the run', () => {
    it('when its step was already recorded (a redelivery), then nothing is recorded', () => {
      const state = given(afterOneRound);
      expect(decideModelDecision(state, recordDecision(1, finalDecision('x')))).toEqual([]);
    });

    it('when it skips a step, then nothing is recorded', () => {
      const state = given(afterOneRound);
      expect(decideModelDecision(state, recordDecision(3, finalDecision('x')))).toEqual([]);
    });

    it('when the run is waiting for tools, a person, or has ended, then nothing is recorded', () => {
      const waiting = given([...requested, ...toolRound(1, SEARCH)]);
      const ended = given([
        ...requested,
        decisionRecorded(1, finalDecision('x')),
        {
          type: 'RunCompleted',
          data: { answer: 'x', steps: 1, usage: usage() },
        } satisfies RunEvent,
      ]);
      expect(decideModelDecision(waiting, recordDecision(2, finalDecision('x')))).toEqual([]);
      expect(decideModelDecision(ended, recordDecision(2, finalDecision('x')))).toEqual([]);
      expect(decideModelDecision(given([]), recordDecision(1, finalDecision('x')))).toEqual([]);
    });
  });
});

describe('decideModelFailure', () => {
  it('given a transient failure with a retry left, then only the failure is recorded, with its delay', () => {
    const events = decideModelFailure(
      given(requested),
      modelFailure(1, {
        status: 503,
        retryAfterMs: 1234.6,
        retry: { retry: true, delayMs: 1500.4 },
      }),
    );
    expect(events).toEqual([
      {
        type: 'ModelCallFailed',
        data: {
          step: 1,
          attempt: 1,
          role: 'reasoning',
          provider: 'openai',
          model: 'gpt-test',
          code: 'MODEL_TIMEOUT',
          errorClass: 'transient',
          message: 'timed out',
          status: 503,
          retryAfterMs: 1235,
          retryInMs: 1500,
          latencyMs: 30_000,
        },
      },
    ]);
    expect(foldRun(events, given(requested)).status).toBe('requested');
  });

  it('given transient failures out of retries after tool results, then the run ends degraded', () => {
    const state = given(afterOneRound);
    const events = decideModelFailure(
      state,
      modelFailure(2, { attempt: 3, retry: { retry: false, reason: 'attempts exhausted' } }),
    );
    expect(events.map((e) => e.type)).toEqual(['ModelCallFailed', 'RunDegraded']);
    expect(events[0]?.type === 'ModelCallFailed' && events[0].data.retryInMs).toBeNull();
    const end = events[1];
    if (end?.type !== 'RunDegraded') throw new Error('expected RunDegraded');
    expect(end.data.reason).toEqual({
      code: 'MODEL_UNAVAILABLE',
      message: 'model call failed 3 times (last MODEL_TIMEOUT): attempts exhausted',
      retryable: false,
    });
    expect(end.data.answer).toContain('"search result 0"');
    expect(foldRun(events, state).status).toBe('degraded');
  });

  it('given transient failures out of retries with nothing found, then the run fails', () => {
    const events = decideModelFailure(
      given(requested),
      modelFailure(1, { retry: { retry: false, reason: 'attempts exhausted' } }),
    );
    expect(events.map((e) => e.type)).toEqual(['ModelCallFailed', 'RunFailed']);
    expect(events[1]?.type === 'RunFailed' && events[1].data.error.code).toBe('MODEL_UNAVAILABLE');
  });

  it('given a permanent failure, then the run fails with its code (no retry even if offered)', () => {
    const events = decideModelFailure(
      given(afterOneRound),
      modelFailure(2, {
        errorClass: 'permanent',
        code: 'MODEL_BAD_REQUEST',
        message: 'invalid request',
        status: 400,
      }),
    );
    expect(events[0]?.type === 'ModelCallFailed' && events[0].data.retryInMs).toBeNull();
    expect(events[1]).toEqual({
      type: 'RunFailed',
      data: {
        error: { code: 'MODEL_BAD_REQUEST', message: 'invalid request', retryable: false },
        steps: 1,
        usage: usage(),
      },
    });
    expect(events).toHaveLength(2);
  });

  it('given a quota failure, then the run fails MODEL_QUOTA', () => {
    const events = decideModelFailure(
      given(requested),
      modelFailure(1, { errorClass: 'quota', code: 'RATE_LIMITED', message: 'quota exceeded' }),
    );
    expect(events.map((e) => e.type)).toEqual(['ModelCallFailed', 'RunFailed']);
    expect(events[1]?.type === 'RunFailed' && events[1].data.error).toEqual({
      code: 'MODEL_QUOTA',
      message: 'quota exceeded',
      retryable: false,
    });
  });

  it('given a failure for a step that is not next, then nothing is recorded', () => {
    expect(decideModelFailure(given(afterOneRound), modelFailure(1))).toEqual([]);
    expect(
      decideModelFailure(given([...requested, ...toolRound(1, SEARCH)]), modelFailure(2)),
    ).toEqual([]);
  });
});

describe('decideOutputRejected', () => {
  const MAX = { maxInvalidOutputs: 3 };

  it('given fewer rejections than the limit, then only the rejection is recorded', () => {
    const events = decideOutputRejected(
      given(requested),
      rejectedOutput(1, { ...MAX, issues: ['reply: bad'], output: 'nope' }),
    );
    expect(events).toEqual([
      {
        type: 'ModelOutputRejected',
        data: {
          step: 1,
          attempt: 1,
          role: 'reasoning',
          provider: 'openai',
          model: 'gpt-test',
          issues: ['reply: bad'],
          output: 'nope',
          usage: usage(),
          latencyMs: 10,
        },
      },
    ]);
  });

  describe('given two rejected replies for step 1', () => {
    const stream = [...requested, outputRejected(1, 1), outputRejected(1, 2)];

    it('when the third is rejected with escalation to review, then a person is asked', () => {
      const events = decideOutputRejected(
        given(stream),
        rejectedOutput(1, {
          ...MAX,
          attempt: 3,
          issues: ['answer: Required', 'confidence: Required'],
        }),
      );
      expect(events.map((e) => e.type)).toEqual(['ModelOutputRejected', 'HumanReviewRequested']);
      expect(events[1]).toEqual({
        type: 'HumanReviewRequested',
        data: {
          step: 1,
          reason: 'structured_output_invalid',
          detail: 'model output failed validation 3 times: answer: Required; confidence: Required',
          proposal: null,
          threshold: null,
        },
      });
      expect(foldRun(events, given(stream)).status).toBe('awaiting_human');
    });

    it('when the third is rejected with dead_letter, then the run fails STRUCTURED_OUTPUT_INVALID', () => {
      const events = decideOutputRejected(
        given(stream),
        rejectedOutput(1, { ...MAX, attempt: 3, escalation: 'dead_letter' }),
      );
      expect(events.map((e) => e.type)).toEqual(['ModelOutputRejected', 'RunFailed']);
      const end = events[1];
      if (end?.type !== 'RunFailed') throw new Error('expected RunFailed');
      expect(end.data.error.code).toBe('STRUCTURED_OUTPUT_INVALID');
      expect(end.data.usage).toEqual(usage(300, 60)); // every rejected reply's tokens
    });
  });

  it('given a step-limit synthesis at its limit, then the run ends degraded (STEP_LIMIT), not reviewed', () => {
    const stream = [
      ...afterOneRound,
      synthesisStarted(2, 'step_limit'),
      outputRejected(2, 1),
      outputRejected(2, 2),
    ];
    const events = decideOutputRejected(
      given(stream),
      rejectedOutput(2, { ...MAX, attempt: 3, escalation: 'review' }),
    );
    expect(events.map((e) => e.type)).toEqual(['ModelOutputRejected', 'RunDegraded']);
    const end = events[1];
    if (end?.type !== 'RunDegraded') throw new Error('expected RunDegraded');
    expect(end.data.reason).toEqual({
      code: 'STEP_LIMIT',
      message: 'step limit 10 reached; the synthesis reply failed validation',
      retryable: false,
    });
    expect(end.data.answer).toContain('"search result 0"');
  });

  it('given a budget-warning synthesis with results, then it ends degraded STRUCTURED_OUTPUT_INVALID', () => {
    const stream = [...afterOneRound, synthesisStarted(2, 'budget_warning')];
    const events = decideOutputRejected(given(stream), rejectedOutput(2, { maxInvalidOutputs: 1 }));
    expect(events.map((e) => e.type)).toEqual(['ModelOutputRejected', 'RunDegraded']);
    expect(events[1]?.type === 'RunDegraded' && events[1].data.reason.code).toBe(
      'STRUCTURED_OUTPUT_INVALID',
    );
  });

  it('given a budget-warning synthesis with nothing found, then it fails STRUCTURED_OUTPUT_INVALID', () => {
    const stream = [...requested, synthesisStarted(1, 'budget_warning')];
    const events = decideOutputRejected(given(stream), rejectedOutput(1, { maxInvalidOutputs: 1 }));
    expect(events.map((e) => e.type)).toEqual(['ModelOutputRejected', 'RunFailed']);
    expect(events[1]?.type === 'RunFailed' && events[1].data.error.code).toBe(
      'STRUCTURED_OUTPUT_INVALID',
    );
  });

  it('given rejections of an earlier step, then they do not count toward this one', () => {
    const stream = [
      ...requested,
      outputRejected(1, 1),
      outputRejected(1, 2),
      ...toolRound(1, SEARCH),
      ...roundResults(1, SEARCH),
    ];
    expect(decideOutputRejected(given(stream), rejectedOutput(2, MAX))).toHaveLength(1);
  });

  it('given a rejection for a step that is not next, then nothing is recorded', () => {
    expect(decideOutputRejected(given(afterOneRound), rejectedOutput(1))).toEqual([]);
  });
});
