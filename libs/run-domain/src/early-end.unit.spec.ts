import {
  decideEarlyEnd,
  decideSynthesized,
  partialAnswer,
  successfulResults,
  synthesisShortfall,
} from './early-end';
import {
  active,
  DEADLINE_AT,
  given,
  ok,
  roundResults,
  runRequested,
  synthesisStarted,
  toolError,
  toolResultRecorded,
  toolRound,
  usage,
} from './test-fixtures';

const reason = { code: 'DEADLINE', message: 'deadline passed', retryable: false };
const SEARCH = [{ tool: 'search' }];

describe('early endings', () => {
  describe('given a run with one successful and one failed result', () => {
    const TWO = [{ tool: 'search' }, { tool: 'calculator' }];
    const state = active(
      given([
        runRequested(),
        ...toolRound(1, TWO),
        toolResultRecorded(1, 0, 'search', ok({ celsius: 20 })),
        toolResultRecorded(1, 1, 'calculator', toolError()),
      ]),
    );

    it('then only the successful output counts', () => {
      expect(successfulResults(state)).toEqual([{ tool: 'search', output: { celsius: 20 } }]);
    });

    it('then ending early degrades the run with a summary of it', () => {
      expect(decideEarlyEnd(state, reason)).toEqual([
        {
          type: 'RunDegraded',
          data: {
            reason,
            answer:
              'No final answer: deadline passed. Tool results so far (1):\n' +
              '{"tool":"search","output":{"celsius":20}}',
            steps: 1,
            usage: usage(),
          },
        },
      ]);
    });
  });

  describe('given a run with nothing to return', () => {
    const state = active(given([runRequested()]));

    it('then a deadline times it out', () => {
      expect(decideEarlyEnd(state, reason, { deadline: true })).toEqual([
        { type: 'RunTimedOut', data: { deadlineAt: DEADLINE_AT, steps: 0, usage: usage(0, 0) } },
      ]);
    });

    it('then any other reason fails it', () => {
      expect(decideEarlyEnd(state, reason)).toEqual([
        { type: 'RunFailed', data: { error: reason, steps: 0, usage: usage(0, 0) } },
      ]);
    });
  });

  it('given results larger than 8,000 characters, then the newest are kept and the rest counted', () => {
    const big = (n: number) => ({ text: String(n).repeat(3000) });
    const stream = [runRequested()];
    for (let step = 1; step <= 4; step++)
      stream.push(...toolRound(step, SEARCH), toolResultRecorded(step, 0, 'search', ok(big(step))));
    const answer = partialAnswer(active(given(stream)), reason);
    expect(answer.length).toBeLessThanOrEqual(8000 + 100);
    expect(answer).toContain('Tool results so far (4, oldest 2 omitted):');
    expect(answer).toContain('4'.repeat(3000));
    expect(answer).toContain('3'.repeat(3000));
    expect(answer).not.toContain('2'.repeat(3000));
  });

  describe('decideSynthesized', () => {
    const base = [runRequested(), ...toolRound(1, SEARCH), ...roundResults(1, SEARCH)];

    it('after a budget warning, then the answer completes the run', () => {
      const state = active(given([...base, synthesisStarted(2, 'budget_warning')]));
      expect(synthesisShortfall(state)).toBeUndefined();
      expect(decideSynthesized(state, '20°C')).toEqual([
        { type: 'RunCompleted', data: { answer: '20°C', steps: 1, usage: usage() } },
      ]);
    });

    it.each([
      ['step_limit', 'STEP_LIMIT', 'step limit 10 reached'],
      ['tool_call_limit', 'TOOL_CALL_LIMIT', 'tool call limit 10 reached'],
    ] as const)('after %s, then the answer ends the run degraded (%s)', (why, code, message) => {
      const state = active(given([...base, synthesisStarted(2, why)]));
      expect(decideSynthesized(state, '20°C')).toEqual([
        {
          type: 'RunDegraded',
          data: {
            reason: { code, message, retryable: false },
            answer: '20°C',
            steps: 1,
            usage: usage(),
          },
        },
      ]);
    });
  });
});
