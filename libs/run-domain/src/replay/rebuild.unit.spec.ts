import { decideModelDecision } from '../decide-model';
import { decideToolOutcome } from '../decide-tools';
import {
  callId,
  finalDecision,
  given,
  ok,
  recordDecision,
  runRequested,
  toolCallsDecision,
} from '../test-fixtures';
import type { RunEvent } from '@keel/contracts';
import { replaySteps, ReplayRangeError, stateAt, type RecordedRunEvent } from './rebuild';
import { canonicalJson, diffValues } from './state-diff';

function recorded(): RecordedRunEvent[] {
  const events: RunEvent[] = [runRequested()];
  const calc = [{ tool: 'calculator', input: { expression: '6 * 7' } }];
  events.push(...decideModelDecision(given(events), recordDecision(1, toolCallsDecision(1, calc))));
  events.push(
    ...decideToolOutcome(given(events), { callId: callId(1), outcome: ok({ value: 42 }) }),
  );
  events.push(...decideModelDecision(given(events), recordDecision(2, finalDecision('It is 42'))));
  return events.map((event, i) => ({ version: i + 1, event }));
}

describe('replay: fold, time travel and field-level diff', () => {
  it('folds the whole stream, or stops after event n', () => {
    const events = recorded();
    expect(stateAt(events)).toMatchObject({ status: 'completed', step: 2, answer: 'It is 42' });
    expect(stateAt(events, 1)).toMatchObject({ status: 'requested', step: 0 });
    expect(stateAt(events, 3)).toMatchObject({
      status: 'awaiting_tools',
      toolCalls: 1,
      pending: [{ callId: callId(1), tool: 'calculator', step: 1 }],
    });
    expect(stateAt(events, 4)).toMatchObject({ status: 'planning' });
  });

  it('refuses an event number outside the stream with a clear message', () => {
    const events = recorded();
    expect(() => stateAt(events, 0)).toThrow(ReplayRangeError);
    expect(() => stateAt(events, 7)).toThrow(
      'event 7 is out of range: the run has 6 events (1..6)',
    );
    expect(() => replaySteps(events, 2.5)).toThrow(ReplayRangeError);
  });

  it('lists what each event changed, field by field', () => {
    const steps = replaySteps(recorded());
    expect(steps.map((s) => [s.version, s.type])).toEqual([
      [1, 'RunRequested'],
      [2, 'ModelDecisionRecorded'],
      [3, 'ToolCallRequested'],
      [4, 'ToolResultRecorded'],
      [5, 'ModelDecisionRecorded'],
      [6, 'RunCompleted'],
    ]);
    const paths = (n: number) => steps[n - 1]!.changes.map((c) => c.path);
    expect(paths(2)).toEqual(['step', 'usage.inputTokens', 'usage.outputTokens', 'history[0]']);
    expect(paths(3)).toEqual(['status', 'toolCalls', 'pending', 'final', 'roundFailed']);
    expect(steps[2]!.changes[0]).toEqual({
      path: 'status',
      before: 'requested',
      after: 'awaiting_tools',
    });
    expect(steps[5]!.changes).toEqual([
      { path: 'status', before: 'planning', after: 'completed' },
      { path: 'answer', before: undefined, after: 'It is 42' },
    ]);
    expect(steps.map((s) => s.state.status).at(-1)).toBe('completed');
  });

  it('refuses a stream with a gap', () => {
    const events = recorded().filter((e) => e.version !== 2);
    expect(() => replaySteps(events)).toThrow('stream has a gap: event 2 has version 3');
  });

  it('diffs values structurally and compares canonically', () => {
    expect(diffValues({ a: 1, b: [1, 2] }, { a: 1, b: [1, 3, 4] })).toEqual([
      { path: 'b[1]', before: 2, after: 3 },
      { path: 'b[2]', before: undefined, after: 4 },
    ]);
    expect(canonicalJson({ b: 1, a: { d: 2, c: undefined } })).toBe('{"a":{"d":2},"b":1}');
    expect(diffValues(1, 2)).toEqual([{ path: '(value)', before: 1, after: 2 }]);
  });
});
