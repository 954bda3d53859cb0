import type { RunEvent, RunEventType } from '@keel/contracts';
import { evolveRun, foldRun } from './evolve';
import {
  InvalidTransitionError,
  isAllowedTransition,
  RUN_TRANSITIONS,
  renderRunMachineMermaid,
  type FromStatus,
} from './run-machine';
import { FINAL_STATUSES, RunStatus, type RunState } from './run-state';
import {
  askHumanDecision,
  decisionRecorded,
  finalDecision,
  given,
  modelCallFailed,
  outputRejected,
  reviewDecided,
  reviewRequested,
  roundResults,
  RUN_ID,
  runCancelled,
  runCompleted,
  runDegraded,
  runFailed,
  runRequested,
  runTimedOut,
  synthesisStarted,
  toolCallRequested,
  toolResultRecorded,
  toolRound,
} from './test-fixtures';

const SEARCH = [{ tool: 'search' }];
const TWO_CALLS = [{ tool: 'search' }, { tool: 'calculator' }];
const question = askHumanDecision('Which city do you mean?');

/** A realistic stream that leaves the run in each status. */
const STREAMS: Record<FromStatus, RunEvent[]> = {
  none: [],
  requested: [runRequested()],
  planning: [runRequested(), ...toolRound(1, SEARCH), ...roundResults(1, SEARCH)],
  synthesizing: [runRequested(), synthesisStarted(1, 'budget_warning')],
  awaiting_tools: [runRequested(), ...toolRound(1, TWO_CALLS)],
  awaiting_human: [
    runRequested(),
    decisionRecorded(1, question),
    reviewRequested(1, 'model_asked', question),
  ],
  completed: [runRequested(), runCompleted()],
  degraded: [runRequested(), runDegraded()],
  failed: [runRequested(), runFailed()],
  cancelled: [runRequested(), runCancelled()],
  timed_out: [runRequested(), runTimedOut()],
};

const FROM_STATUSES = Object.keys(STREAMS) as FromStatus[];
const EVENT_TYPES: RunEventType[] = [
  'RunRequested',
  'ModelCallFailed',
  'ModelOutputRejected',
  'ModelDecisionRecorded',
  'HumanReviewRequested',
  'HumanReviewDecided',
  'SynthesisStarted',
  'ToolCallRequested',
  'ToolResultRecorded',
  'RunCompleted',
  'RunFailed',
  'RunDegraded',
  'RunCancelled',
  'RunTimedOut',
];

const nextStep = (s: RunState) => (s.status === 'none' ? 1 : s.step + 1);

/**
 * An event of type `on` for a run in `from` (and, where the target depends on
 * the data, one that leads to `to`), plus any events that must come first.
 */
function sample(
  on: RunEventType,
  from: FromStatus,
  to?: RunStatus,
): { before: RunEvent[]; event: RunEvent } {
  const step = nextStep(given(STREAMS[from]));
  const just = (event: RunEvent) => ({ before: [], event });
  switch (on) {
    case 'RunRequested':
      return just(runRequested());
    case 'ModelCallFailed':
      return just(modelCallFailed(step));
    case 'ModelOutputRejected':
      return just(outputRejected(step));
    case 'ModelDecisionRecorded':
      return just(decisionRecorded(step, finalDecision('42')));
    case 'HumanReviewRequested':
      return just(reviewRequested(step, 'low_confidence', finalDecision('42', 0.2), 0.7));
    case 'HumanReviewDecided':
      return just(
        to === 'planning' || to === 'synthesizing'
          ? reviewDecided(1, 'modify', { changes: { instruction: 'ask about Lisbon, Portugal' } })
          : reviewDecided(1, 'approve'),
      );
    case 'SynthesisStarted':
      return just(synthesisStarted(step, 'step_limit'));
    case 'ToolCallRequested':
      // In awaiting_tools: another call of the same round.
      return just(
        from === 'awaiting_tools'
          ? toolCallRequested(1, 2, 'search')
          : toolCallRequested(step, 0, 'search'),
      );
    case 'ToolResultRecorded':
      return to === 'planning'
        ? {
            before: [toolResultRecorded(1, 0, 'search')],
            event: toolResultRecorded(1, 1, 'calculator'),
          }
        : just(toolResultRecorded(1, 0, 'search'));
    case 'RunCompleted':
      return just(runCompleted());
    case 'RunFailed':
      return just(runFailed());
    case 'RunDegraded':
      return just(runDegraded());
    case 'RunCancelled':
      return just(runCancelled());
    case 'RunTimedOut':
      return just(runTimedOut());
  }
}

const listed = (from: FromStatus, on: RunEventType) =>
  RUN_TRANSITIONS.some((t) => t.from === from && t.on === on);

const REFUSED = FROM_STATUSES.flatMap((from) =>
  EVENT_TYPES.filter((on) => !listed(from, on)).map((on) => ({ from, on })),
);

function refusal(state: RunState, event: RunEvent): InvalidTransitionError {
  try {
    evolveRun(state, event);
  } catch (e) {
    if (e instanceof InvalidTransitionError) return e;
    throw e;
  }
  throw new Error(`${event.type} was accepted in state ${state.status}`);
}

describe('run state machine', () => {
  describe('given the transition table', () => {
    it('lists every run status as a target, so all ten are reachable', () => {
      const targets = new Set(RUN_TRANSITIONS.map((t) => t.to));
      expect(Object.values(RunStatus)).toHaveLength(10);
      for (const status of Object.values(RunStatus)) expect(targets).toContain(status);
    });

    it('has no duplicate (from, event, to) entries', () => {
      const keys = RUN_TRANSITIONS.map((t) => `${t.from}|${t.on}|${t.to}`);
      expect(new Set(keys).size).toBe(keys.length);
    });

    it('has no transition out of a final state', () => {
      expect(RUN_TRANSITIONS.filter((t) => FINAL_STATUSES.has(t.from))).toEqual([]);
    });

    it('isAllowedTransition answers from the table', () => {
      expect(isAllowedTransition('none', 'RunRequested', 'requested')).toBe(true);
      expect(isAllowedTransition('awaiting_tools', 'ToolResultRecorded', 'planning')).toBe(true);
      expect(isAllowedTransition('planning', 'ToolResultRecorded', 'planning')).toBe(false);
      expect(isAllowedTransition('completed', 'RunCompleted', 'completed')).toBe(false);
    });
  });

  describe.each(Object.values(RunStatus))('given a stream that ends in %s', (status) => {
    it(`when folded, then the run is ${status}`, () => {
      expect(given(STREAMS[status]).status).toBe(status);
    });
  });

  describe('given every (state, event) pair the table does not list', () => {
    it('there are refused pairs for every state', () => {
      for (const from of FROM_STATUSES) expect(REFUSED.some((r) => r.from === from)).toBe(true);
    });

    it.each(REFUSED)('when $on arrives in $from, then evolveRun refuses it', ({ from, on }) => {
      const state = given(STREAMS[from]);
      const { before, event } = sample(on, from);
      const err = refusal(foldRun(before, state), event);
      expect(err).toBeInstanceOf(InvalidTransitionError);
      expect(err.name).toBe('InvalidTransitionError');
      expect(err.code).toBe('INVALID_TRANSITION');
      expect(err.from).toBe(from);
      expect(err.on).toBe(on);
      expect(err.message).toContain(`run ${from === 'none' ? '?' : RUN_ID}: `);
      expect(err.message).toContain(`${on} is not allowed in state '${from}'`);
    });
  });

  describe('given every transition the table lists', () => {
    it.each(RUN_TRANSITIONS.map((t) => ({ ...t })))(
      'when $on arrives in $from, then the run moves to $to',
      ({ from, on, to }) => {
        const { before, event } = sample(on, from, to);
        // A re-plan returns to synthesizing only for a run that was synthesizing before the pause.
        const start =
          on === 'HumanReviewDecided' && to === 'synthesizing'
            ? [
                runRequested(),
                synthesisStarted(1, 'budget_warning'),
                decisionRecorded(1, question),
                reviewRequested(1, 'model_asked', question),
              ]
            : STREAMS[from];
        expect(foldRun([...before, event], given(start)).status).toBe(to);
      },
    );
  });

  describe('refusals, by example', () => {
    it('a tool result on a completed run', () => {
      const err = refusal(given(STREAMS.completed), toolResultRecorded(1, 0, 'search'));
      expect(err.message).toBe(
        `run ${RUN_ID}: ToolResultRecorded is not allowed in state 'completed' (it would lead to 'completed')`,
      );
      expect(err.to).toBe('completed');
    });

    it('RunRequested twice', () => {
      const err = refusal(given([runRequested()]), runRequested());
      expect(err.message).toBe(`run ${RUN_ID}: RunRequested is not allowed in state 'requested'`);
      expect(err.to).toBeUndefined();
    });

    it('any event before RunRequested', () => {
      const err = refusal(given([]), runCompleted());
      expect(err.message).toBe(`run ?: RunCompleted is not allowed in state 'none'`);
    });

    it('a review decision when the run is not awaiting a person', () => {
      const err = refusal(given(STREAMS.planning), reviewDecided(1, 'approve'));
      expect(err.message).toBe(
        `run ${RUN_ID}: HumanReviewDecided is not allowed in state 'planning' (it would lead to 'planning')`,
      );
    });

    it('a model decision while tools are running', () => {
      const err = refusal(given(STREAMS.awaiting_tools), decisionRecorded(2, finalDecision('x')));
      expect(err.message).toContain(
        "ModelDecisionRecorded is not allowed in state 'awaiting_tools'",
      );
    });

    it('a synthesis while tools run, or twice', () => {
      for (const from of ['awaiting_tools', 'synthesizing'] as const)
        expect(refusal(given(STREAMS[from]), synthesisStarted(2, 'step_limit')).from).toBe(from);
    });

    it.each([...FINAL_STATUSES])('any event after the run ended %s', (from) => {
      const state = given(STREAMS[from as RunStatus]);
      for (const on of EVENT_TYPES) {
        const { event } = sample(on, from as RunStatus);
        expect(() => evolveRun(state, event)).toThrow(InvalidTransitionError);
      }
    });
  });

  describe('given a run that takes the long way', () => {
    it('passes through every active state and completes', () => {
      const stream: RunEvent[] = [
        runRequested(),
        ...toolRound(1, TWO_CALLS),
        ...roundResults(1, TWO_CALLS),
        decisionRecorded(2, question),
        reviewRequested(2, 'model_asked', question),
        reviewDecided(2, 'modify', { changes: { instruction: 'Lisbon, Portugal' } }),
        synthesisStarted(3, 'budget_warning'),
        decisionRecorded(3, finalDecision('20°C, 68°F')),
        runCompleted('20°C, 68°F'),
      ];
      const visited: string[] = [];
      stream.reduce((s, e) => {
        const next = evolveRun(s, e);
        if (visited.at(-1) !== next.status) visited.push(next.status);
        return next;
      }, given([]));
      expect(visited).toEqual([
        'requested',
        'awaiting_tools',
        'planning',
        'awaiting_human',
        'planning',
        'synthesizing',
        'completed',
      ]);
    });

    it.each([
      ['requested', 'degraded', runDegraded()],
      ['planning', 'failed', runFailed()],
      ['synthesizing', 'timed_out', runTimedOut()],
      ['awaiting_tools', 'cancelled', runCancelled()],
      ['awaiting_human', 'completed', runCompleted()],
    ] as const)('from %s it can end %s', (from, to, event) => {
      expect(evolveRun(given(STREAMS[from]), event).status).toBe(to);
    });
  });

  describe('renderRunMachineMermaid', () => {
    const diagram = renderRunMachineMermaid();

    it('is a Mermaid state diagram that names every state', () => {
      expect(diagram.split('\n')[0]).toBe('stateDiagram-v2');
      for (const status of Object.values(RunStatus)) expect(diagram).toContain(status);
    });

    it('starts at RunRequested and leaves from every final state', () => {
      expect(diagram).toContain('[*] --> requested: RunRequested');
      for (const s of FINAL_STATUSES) expect(diagram).toContain(`  ${s} --> [*]`);
    });

    it('draws one labelled edge per (from, to) and no self-loops', () => {
      expect(diagram).toContain('awaiting_tools --> planning: ToolResultRecorded');
      expect(diagram).not.toMatch(/^\s+(\w+) --> \1:/m);
      const edges = diagram.split('\n').filter((l) => l.includes(' --> ') && l.includes(':'));
      expect(new Set(edges.map((l) => l.split(':')[0])).size).toBe(edges.length);
    });
  });
});
