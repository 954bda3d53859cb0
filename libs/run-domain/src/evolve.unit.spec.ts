import type { RunEvent } from '@keel/contracts';
import { evolveRun, foldRun, lastDecision } from './evolve';
import { coreOf, initialRunState, isFinal, type RunState } from './run-state';
import {
  active,
  callId,
  decisionRecorded,
  expectStatus,
  finalDecision,
  given,
  LIMITS,
  modelCallFailed,
  outputRejected,
  PROMPT,
  reviewDecided,
  reviewRequested,
  roundResults,
  RUN_ID,
  runCompleted,
  runRequested,
  TENANT,
  toolCallsDecision,
  toolError,
  toolResultRecorded,
  toolRound,
  TOOLS,
  usage,
} from './test-fixtures';

const SEARCH = [{ tool: 'search' }];
const TWO = [{ tool: 'search' }, { tool: 'calculator' }];

function deepFreeze<T>(o: T): T {
  if (o && typeof o === 'object') {
    for (const v of Object.values(o)) deepFreeze(v);
    Object.freeze(o);
  }
  return o;
}

describe('evolveRun / foldRun', () => {
  it('given no events, then there is no run', () => {
    expect(given([])).toEqual(initialRunState());
    expect(() => coreOf(given([]))).toThrow('run event before RunRequested');
  });

  it('given RunRequested, then the run starts from its request', () => {
    expect(given([runRequested({ maxSteps: 4 })])).toEqual({
      status: 'requested',
      runId: RUN_ID,
      tenant: TENANT,
      requestId: 'req-1',
      prompt: PROMPT,
      tools: TOOLS,
      limits: { ...LIMITS, maxSteps: 4 },
      step: 0,
      toolCalls: 0,
      usage: usage(0, 0),
      history: [],
      attempts: { failures: 0, rejected: [] },
    });
  });

  describe('given failed and rejected attempts of step 1', () => {
    const stream = [
      runRequested(),
      modelCallFailed(1, 1),
      outputRejected(1, 2, ['bad'], 'x', usage(50, 5)),
    ];

    it('then they are counted, and the rejected reply’s tokens are spent', () => {
      const s = active(given(stream));
      expect(s.attempts).toEqual({
        failures: 1,
        rejected: [{ output: 'x', issues: ['bad'], usage: usage(50, 5) }],
      });
      expect(s.usage).toEqual(usage(50, 5));
    });

    it('when the step is decided, then attempts reset and the step’s usage includes them', () => {
      const s = active(given([...stream, decisionRecorded(1, finalDecision('a'), usage(100, 20))]));
      expect(s.attempts).toEqual({ failures: 0, rejected: [] });
      expect(s.usage).toEqual(usage(150, 25));
      expect(s.step).toBe(1);
      expect(s.history).toEqual([
        {
          kind: 'decision',
          step: 1,
          decision: finalDecision('a'),
          usage: usage(100, 20),
          model: 'gpt-test',
          stepUsage: usage(150, 25),
        },
      ]);
      expect(lastDecision(coreOf(s))).toEqual(finalDecision('a'));
    });

    it('when a person is asked instead, then attempts reset too', () => {
      const s = given([...stream, reviewRequested(1, 'structured_output_invalid', null)]);
      expect(expectStatus(s, 'awaiting_human').attempts).toEqual({ failures: 0, rejected: [] });
    });
  });

  describe('given a final round of two calls', () => {
    const stream = [runRequested(), ...toolRound(1, TWO, { final: true })];

    it('then the round is final, with both calls pending and counted', () => {
      const s = expectStatus(given(stream), 'awaiting_tools');
      expect(s.final).toBe(true);
      expect(s.roundFailed).toBe(false);
      expect(s.toolCalls).toBe(2);
      expect(s.pending.map((p) => p.callId)).toEqual([callId(1, 0), callId(1, 1)]);
    });

    it('when a call fails, then the round is marked failed', () => {
      const s = given([...stream, toolResultRecorded(1, 0, 'search', toolError())]);
      expect(expectStatus(s, 'awaiting_tools').roundFailed).toBe(true);
    });

    it('when both are in, then the run plans with both results in its history', () => {
      const s = expectStatus(given([...stream, ...roundResults(1, TWO)]), 'planning');
      expect(s.history.map((h) => h.kind)).toEqual(['decision', 'tool_result', 'tool_result']);
      expect('pending' in s).toBe(false);
    });
  });

  it('given an ordinary round, then it is not final', () => {
    expect(
      expectStatus(given([runRequested(), ...toolRound(1, SEARCH)]), 'awaiting_tools').final,
    ).toBe(false);
  });

  it('given a review decision, then it is kept in the history with its changes', () => {
    const d = toolCallsDecision(1, SEARCH);
    const s = active(
      given([
        runRequested(),
        decisionRecorded(1, d),
        reviewRequested(1, 'high_stakes_tool', d),
        reviewDecided(1, 'modify', { reviewId: 'r-9', changes: { instruction: 'again' } }),
      ]),
    );
    expect(s.status).toBe('planning');
    expect(s.history.at(-1)).toEqual({
      kind: 'review',
      step: 1,
      reviewId: 'r-9',
      decision: 'modify',
      changes: { instruction: 'again' },
    });
  });

  it('given an approval with a proposal, then the review is marked decided (its consequences follow)', () => {
    const d = toolCallsDecision(1, SEARCH);
    const s = given([
      runRequested(),
      decisionRecorded(1, d),
      reviewRequested(1, 'high_stakes_tool', d),
      reviewDecided(1, 'approve'),
    ]);
    expect(expectStatus(s, 'awaiting_human').review).toEqual({
      step: 1,
      reason: 'high_stakes_tool',
      proposal: d,
      decided: true,
    });
  });

  it('never mutates the state it is given', () => {
    const events: RunEvent[] = [
      runRequested(),
      outputRejected(1),
      ...toolRound(1, TWO),
      ...roundResults(1, TWO),
      decisionRecorded(2, finalDecision('x')),
      runCompleted('x'),
    ];
    let state: RunState = deepFreeze(given([]));
    for (const e of events) state = deepFreeze(evolveRun(state, e));
    expect(isFinal(state)).toBe(true);
    expect(foldRun(events)).toEqual(state);
  });
});
