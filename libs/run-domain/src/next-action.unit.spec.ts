import type { RunEvent } from '@keel/contracts';
import { decideModelDecision } from './decide-model';
import { foldRun } from './evolve';
import { nextAction } from './next-action';
import {
  askHumanDecision,
  AT_DEADLINE,
  BEFORE_DEADLINE,
  DEADLINE_AT,
  decisionRecorded,
  finalDecision,
  given,
  recordDecision,
  reviewRequested,
  roundResults,
  runCancelled,
  runCompleted,
  runDegraded,
  runFailed,
  runRequested,
  runTimedOut,
  synthesisStarted,
  toolError,
  toolResultRecorded,
  toolRound,
  usage,
} from './test-fixtures';

const SEARCH = [{ tool: 'search' }];
const AFTER_DEADLINE = new Date(Date.parse(DEADLINE_AT) + 60_000);

/** `n` completed tool rounds (steps 1..n), each one `search` call. */
const rounds = (n: number): RunEvent[] =>
  Array.from({ length: n }, (_, i) => [
    ...toolRound(i + 1, SEARCH),
    ...roundResults(i + 1, SEARCH),
  ]).flat();

/** The events of a `record` action (fails the test for any other action). */
function recorded(state: ReturnType<typeof given>, now = BEFORE_DEADLINE): RunEvent[] {
  const action = nextAction(state, now);
  if (action.kind !== 'record') throw new Error(`expected record, got ${action.kind}`);
  return action.events;
}

describe('nextAction', () => {
  it('given no run, then there is nothing to do', () => {
    expect(nextAction(given([]), BEFORE_DEADLINE)).toEqual({ kind: 'finished' });
  });

  it.each([runCompleted(), runDegraded(), runFailed(), runCancelled(), runTimedOut()])(
    'given a run that ended ($type), then it is finished, even past the deadline',
    (end) => {
      expect(nextAction(given([runRequested(), end]), AFTER_DEADLINE)).toEqual({
        kind: 'finished',
      });
    },
  );

  it('given a requested run, then the model is asked for step 1', () => {
    expect(nextAction(given([runRequested()]), BEFORE_DEADLINE)).toEqual({
      kind: 'call_model',
      step: 1,
      synthesis: false,
    });
  });

  it('given a run back from a tool round, then the model is asked for the next step', () => {
    expect(nextAction(given([runRequested(), ...rounds(2)]), BEFORE_DEADLINE)).toEqual({
      kind: 'call_model',
      step: 3,
      synthesis: false,
    });
  });

  it('given calls in flight, then the run waits for tools', () => {
    const state = given([runRequested(), ...toolRound(1, SEARCH)]);
    expect(nextAction(state, BEFORE_DEADLINE)).toEqual({ kind: 'wait_for_tools' });
  });

  it('given a pause for a person, then the run waits for them', () => {
    const q = askHumanDecision('Which city?');
    const state = given([
      runRequested(),
      decisionRecorded(1, q),
      reviewRequested(1, 'model_asked', q),
    ]);
    expect(nextAction(state, BEFORE_DEADLINE)).toEqual({ kind: 'wait_for_human' });
  });

  describe('given a step limit of 3', () => {
    const limits = { maxSteps: 3 };

    it('when step 2 is next, then it is an ordinary step', () => {
      expect(nextAction(given([runRequested(limits), ...rounds(1)]), BEFORE_DEADLINE)).toEqual({
        kind: 'call_model',
        step: 2,
        synthesis: false,
      });
    });

    describe('when the last allowed step is next', () => {
      const stream = [runRequested(limits), ...rounds(2)];

      it('then a synthesis is recorded first (step_limit)', () => {
        expect(recorded(given(stream))).toEqual([
          { type: 'SynthesisStarted', data: { step: 3, reason: 'step_limit' } },
        ]);
      });

      it('then the model is asked for that step without tools', () => {
        const state = foldRun(recorded(given(stream)), given(stream));
        expect(state.status).toBe('synthesizing');
        expect(nextAction(state, BEFORE_DEADLINE)).toEqual({
          kind: 'call_model',
          step: 3,
          synthesis: true,
        });
      });

      it('then a synthesized answer ends the run degraded (STEP_LIMIT) with that answer', () => {
        const state = foldRun(recorded(given(stream)), given(stream));
        const answer = finalDecision('Lisbon: 20°C (68°F), from two searches.');
        const events = decideModelDecision(state, recordDecision(3, answer, { role: 'synthesis' }));
        expect(events[1]).toEqual({
          type: 'RunDegraded',
          data: {
            reason: { code: 'STEP_LIMIT', message: 'step limit 3 reached', retryable: false },
            answer: 'Lisbon: 20°C (68°F), from two searches.',
            steps: 3,
            usage: usage(300, 60),
          },
        });
        expect(foldRun(events, state).status).toBe('degraded');
      });
    });

    it('when a budget-warning synthesis reaches the last step, then its answer completes the run', () => {
      const stream = [runRequested(limits), ...rounds(2), synthesisStarted(3, 'budget_warning')];
      const state = given(stream);
      expect(nextAction(state, BEFORE_DEADLINE)).toEqual({
        kind: 'call_model',
        step: 3,
        synthesis: true,
      });
      const events = decideModelDecision(state, recordDecision(3, finalDecision('20°C')));
      expect(events.map((e) => e.type)).toEqual(['ModelDecisionRecorded', 'RunCompleted']);
      expect(events[1]?.type === 'RunCompleted' && events[1].data.answer).toBe('20°C');
    });

    it('when every step was used, then the run ends degraded (STEP_LIMIT) with its results', () => {
      const events = recorded(given([runRequested(limits), ...rounds(3)]));
      expect(events.map((e) => e.type)).toEqual(['RunDegraded']);
      expect(events[0]?.type === 'RunDegraded' && events[0].data.reason.code).toBe('STEP_LIMIT');
    });
  });

  describe('given a step limit of 1', () => {
    it('then the only step is an ordinary one (not a synthesis)', () => {
      expect(nextAction(given([runRequested({ maxSteps: 1 })]), BEFORE_DEADLINE)).toEqual({
        kind: 'call_model',
        step: 1,
        synthesis: false,
      });
    });

    it('when that step called tools, then the run ends with their results (STEP_LIMIT)', () => {
      const events = recorded(given([runRequested({ maxSteps: 1 }), ...rounds(1)]));
      expect(events).toEqual([
        {
          type: 'RunDegraded',
          data: {
            reason: { code: 'STEP_LIMIT', message: 'step limit 1 reached', retryable: false },
            answer:
              'No final answer: step limit 1 reached. Tool results so far (1):\n' +
              '{"tool":"search","output":{"result":"search result 0"}}',
            steps: 1,
            usage: usage(),
          },
        },
      ]);
    });
  });

  describe('given the deadline has passed', () => {
    it('when the run has results, then it ends degraded (DEADLINE) with them', () => {
      const stream = [runRequested(), ...rounds(1)];
      expect(recorded(given(stream), AFTER_DEADLINE)).toEqual([
        {
          type: 'RunDegraded',
          data: {
            reason: {
              code: 'DEADLINE',
              message: `deadline ${DEADLINE_AT} passed`,
              retryable: false,
            },
            answer:
              `No final answer: deadline ${DEADLINE_AT} passed. Tool results so far (1):\n` +
              '{"tool":"search","output":{"result":"search result 0"}}',
            steps: 1,
            usage: usage(),
          },
        },
      ]);
    });

    it('when the run has nothing to return, then it times out', () => {
      expect(recorded(given([runRequested()]), AFTER_DEADLINE)).toEqual([
        { type: 'RunTimedOut', data: { deadlineAt: DEADLINE_AT, steps: 0, usage: usage(0, 0) } },
      ]);
    });

    it('when it is exactly the deadline, then the run is already out of time', () => {
      expect(recorded(given([runRequested()]), AT_DEADLINE).map((e) => e.type)).toEqual([
        'RunTimedOut',
      ]);
    });

    it('when tools are still running, then it ends rather than waiting', () => {
      const first = given([runRequested(), ...toolRound(1, SEARCH)]);
      expect(recorded(first, AFTER_DEADLINE).map((e) => e.type)).toEqual(['RunTimedOut']);
      const second = given([runRequested(), ...rounds(1), ...toolRound(2, SEARCH)]);
      expect(recorded(second, AFTER_DEADLINE).map((e) => e.type)).toEqual(['RunDegraded']);
    });

    it('when a person has not answered, then it ends rather than waiting', () => {
      const q = askHumanDecision('Which city?');
      const state = given([
        runRequested(),
        decisionRecorded(1, q),
        reviewRequested(1, 'model_asked', q),
      ]);
      const events = recorded(state, AFTER_DEADLINE);
      expect(events.map((e) => e.type)).toEqual(['RunTimedOut']);
      expect(foldRun(events, state).status).toBe('timed_out');
    });
  });

  describe('given separate input and output token limits', () => {
    it('when the output tokens reach theirs, then the run ends degraded though the total is far below', () => {
      const state = given([
        runRequested({ maxTokens: 100_000, maxOutputTokens: 100 }),
        ...toolRound(1, SEARCH, { usage: usage(10, 100) }),
        ...roundResults(1, SEARCH),
      ]);
      const events = recorded(state);
      expect(events[0]?.type === 'RunDegraded' && events[0].data.reason).toMatchObject({
        code: 'TOKEN_LIMIT',
        message: 'output token limit 100 reached',
      });
    });

    it('when the input tokens reach theirs, then the run ends too', () => {
      const state = given([
        runRequested({ maxTokens: 100_000, maxInputTokens: 500 }),
        ...toolRound(1, SEARCH, { usage: usage(500, 1) }),
        ...roundResults(1, SEARCH),
      ]);
      expect(recorded(state)[0]).toMatchObject({
        type: 'RunDegraded',
        data: { reason: { message: 'input token limit 500 reached' } },
      });
    });
  });

  describe('given the token limit (1,000) is reached', () => {
    const limits = { maxTokens: 1000 };

    it('when nothing was found, then the run fails TOKEN_LIMIT instead of calling the model', () => {
      // Its only call failed: nothing to return.
      const state = given([
        runRequested(limits),
        ...toolRound(1, SEARCH, { usage: usage(900, 100) }),
        toolResultRecorded(1, 0, 'search', toolError()),
      ]);
      expect(recorded(state)).toEqual([
        {
          type: 'RunFailed',
          data: {
            error: { code: 'TOKEN_LIMIT', message: 'token limit 1000 reached', retryable: false },
            steps: 1,
            usage: usage(900, 100),
          },
        },
      ]);
    });

    it('when there are results, then the run ends degraded (TOKEN_LIMIT) with them', () => {
      const state = given([
        runRequested(limits),
        ...toolRound(1, SEARCH, { usage: usage(950, 60) }),
        ...roundResults(1, SEARCH),
      ]);
      const events = recorded(state);
      expect(events.map((e) => e.type)).toEqual(['RunDegraded']);
      expect(events[0]?.type === 'RunDegraded' && events[0].data.reason.code).toBe('TOKEN_LIMIT');
    });

    it('when just under the limit, then the model is still asked', () => {
      const state = given([
        runRequested(limits),
        ...toolRound(1, SEARCH, { usage: usage(900, 99) }),
        ...roundResults(1, SEARCH),
      ]);
      expect(nextAction(state, BEFORE_DEADLINE).kind).toBe('call_model');
    });
  });
});
