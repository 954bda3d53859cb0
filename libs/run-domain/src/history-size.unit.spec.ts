import { evolveRun } from './evolve';
import { historyJsonLength } from './history-size';
import {
  active,
  decisionRecorded,
  finalDecision,
  given,
  ok,
  reviewDecided,
  reviewRequested,
  runRequested,
  toolCallsDecision,
  toolResultRecorded,
  toolRound,
} from './test-fixtures';

const SEARCH = [{ tool: 'search', input: { q: 'Lisbon "é" \\ ✓ \u2028' } }];
const CALC = [{ tool: 'calculator' }];

describe('historyJsonLength', () => {
  it('is 2 for an empty history, like JSON.stringify([])', () => {
    expect(historyJsonLength([])).toBe(JSON.stringify([]).length);
  });

  it('equals JSON.stringify(history).length after every event of a run (entries shared between states)', () => {
    const events = [
      runRequested(),
      ...toolRound(1, SEARCH),
      toolResultRecorded(1, 0, 'search', ok({ tempC: 21.5, note: 'line\nbreak', n: 1e21 })),
      ...toolRound(2, CALC),
      toolResultRecorded(2, 0, 'calculator', ok({ f: 70.7 })),
      decisionRecorded(3, finalDecision('It is 21.5 °C (70.7 °F).')),
    ];
    let state = given([]);
    for (const e of events) {
      state = evolveRun(state, e);
      const { history } = active(state);
      expect(historyJsonLength(history)).toBe(JSON.stringify(history).length);
    }
    // Five entries: three decisions and two tool results.
    expect(active(state).history).toHaveLength(5);
  });

  it('counts review entries too', () => {
    const proposal = toolCallsDecision(1, [{ tool: 'send_email' }]);
    const { history } = active(
      given([
        runRequested(),
        reviewRequested(1, 'low_confidence', proposal),
        reviewDecided(1, 'approve'),
      ]),
    );
    expect(history.some((h) => h.kind === 'review')).toBe(true);
    expect(historyJsonLength(history)).toBe(JSON.stringify(history).length);
  });
});
