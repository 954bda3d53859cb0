import type { RunEvent } from '@keel/contracts';
import { decideCancel, decideReview } from '../decide-commands';
import {
  decideModelDecision,
  decideModelFailure,
  proceed,
  type ReviewPolicy,
} from '../decide-model';
import { decideToolOutcome } from '../decide-tools';
import { evolveRun } from '../evolve';
import { decideEarlyEnd } from '../early-end';
import { nextAction } from '../next-action';
import {
  active,
  approve,
  BEFORE_DEADLINE,
  AT_DEADLINE,
  callId,
  cancel,
  finalDecision,
  given,
  modelFailure,
  ok,
  poolOf,
  recordDecision,
  REVIEW_OFF,
  REVIEW_ON,
  runRequested,
  toolCallsDecision,
  type Limits,
} from '../test-fixtures';
import { PLANNER_DECIDERS, type PlannerDeciders } from './planner-deciders';
import { checkRun, type ReplayPolicy } from './re-execute';
import type { RecordedRunEvent } from './rebuild';

const policy = (review: ReviewPolicy = REVIEW_OFF): ReplayPolicy => ({
  review,
  maxInvalidOutputs: 3,
  invalidOutputEscalation: 'review',
  poolOf,
});

/** A recording made the way the planner makes one: each input decided by today's deciders. */
class Recording {
  readonly events: RunEvent[];
  constructor(limits: Partial<Limits> = {}) {
    this.events = [runRequested(limits)];
  }
  get state() {
    return given(this.events);
  }
  add(events: RunEvent[]): this {
    if (events.length === 0) throw new Error('the decider recorded nothing');
    this.events.push(...events);
    return this;
  }
  /** What the driver records on its own before the next model call (limits, synthesis). */
  settle(now = BEFORE_DEADLINE): this {
    const a = nextAction(this.state, now);
    if (a.kind === 'record') this.add(a.events);
    return this;
  }
  get recorded(): RecordedRunEvent[] {
    return this.events.map((event, i) => ({ version: i + 1, event }));
  }
}

const calc = [{ tool: 'calculator', input: { expression: '6 * 7' } }];

function toolRun(review: ReviewPolicy = REVIEW_OFF) {
  const r = new Recording();
  r.add(decideModelDecision(r.state, recordDecision(1, toolCallsDecision(1, calc), { review })));
  r.add(decideToolOutcome(r.state, { callId: callId(1), outcome: ok({ value: 42 }) }));
  r.add(decideModelDecision(r.state, recordDecision(2, finalDecision('It is 42'), { review })));
  return r;
}

describe('checkRun: deterministic re-execution of a recorded run', () => {
  it('re-derives a tool round and its completion without divergence', () => {
    const r = toolRun();
    expect(r.events.map((e) => e.type)).toEqual([
      'RunRequested',
      'ModelDecisionRecorded',
      'ToolCallRequested',
      'ToolResultRecorded',
      'ModelDecisionRecorded',
      'RunCompleted',
    ]);
    expect(checkRun(r.recorded, policy())).toEqual({ decisions: 3, checkedEvents: 6 });
  });

  it('re-derives a review gate and the approval that carries out the proposal', () => {
    const r = new Recording();
    const unsure = toolCallsDecision(1, calc, { confidence: 0.4 });
    r.add(decideModelDecision(r.state, recordDecision(1, unsure, { review: REVIEW_ON })));
    const verdict = decideReview(r.state, approve(1), poolOf);
    if (verdict.kind !== 'accepted') throw new Error('refused');
    r.add(verdict.events);
    r.add(decideToolOutcome(r.state, { callId: callId(1), outcome: ok({ value: 42 }) }));
    r.add(
      decideModelDecision(r.state, recordDecision(2, finalDecision('42'), { review: REVIEW_ON })),
    );
    expect(r.events.map((e) => e.type)).toContain('HumanReviewRequested');
    expect(checkRun(r.recorded, policy(REVIEW_ON)).divergence).toBeUndefined();
    // The same recording under a policy without the gate: the planner would not have paused.
    const off = checkRun(r.recorded, policy(REVIEW_OFF)).divergence;
    expect(off).toMatchObject({
      eventNumber: 3,
      expected: { type: 'ToolCallRequested' },
      recorded: { type: 'HumanReviewRequested' },
    });
  });

  it('re-derives a step-limit synthesis ending degraded', () => {
    const r = new Recording({ maxSteps: 2 });
    r.add(decideModelDecision(r.state, recordDecision(1, toolCallsDecision(1, calc))));
    r.add(decideToolOutcome(r.state, { callId: callId(1), outcome: ok({ value: 42 }) })).settle();
    r.add(
      decideModelDecision(
        r.state,
        recordDecision(2, finalDecision('about 42'), { role: 'synthesis' }),
      ),
    );
    expect(r.events.at(-1)).toMatchObject({
      type: 'RunDegraded',
      data: { reason: { code: 'STEP_LIMIT' } },
    });
    expect(checkRun(r.recorded, policy())).toEqual({ decisions: 4, checkedEvents: 7 });
  });

  it('takes the budget guard, the clock and commands as inputs', () => {
    const exhausted = new Recording();
    exhausted.add(
      decideModelDecision(exhausted.state, recordDecision(1, toolCallsDecision(1, calc))),
    );
    exhausted.add(
      decideToolOutcome(exhausted.state, { callId: callId(1), outcome: ok({ value: 1 }) }),
    );
    exhausted.add(
      decideEarlyEnd(active(exhausted.state), {
        code: 'BUDGET_EXHAUSTED',
        message: 'run token limit reached',
        retryable: false,
      }),
    );
    expect(checkRun(exhausted.recorded, policy()).divergence).toBeUndefined();

    const late = new Recording();
    late.add(decideModelDecision(late.state, recordDecision(1, toolCallsDecision(1, calc))));
    late.settle(AT_DEADLINE);
    expect(late.events.at(-1)!.type).toBe('RunTimedOut');
    expect(checkRun(late.recorded, policy()).divergence).toBeUndefined();

    const cancelled = new Recording();
    cancelled.add(
      decideModelDecision(cancelled.state, recordDecision(1, toolCallsDecision(1, calc))),
    );
    const v = decideCancel(cancelled.state, cancel());
    if (v.kind !== 'accepted') throw new Error('refused');
    cancelled.add(v.events);
    expect(checkRun(cancelled.recorded, policy()).divergence).toBeUndefined();
  });

  it('re-derives a retried and then abandoned model call', () => {
    const r = new Recording();
    r.add(decideModelDecision(r.state, recordDecision(1, toolCallsDecision(1, calc))));
    r.add(decideToolOutcome(r.state, { callId: callId(1), outcome: ok({ value: 42 }) }));
    r.add(decideModelFailure(r.state, modelFailure(2)));
    r.add(
      decideModelFailure(
        r.state,
        modelFailure(2, {
          attempt: 2,
          retry: { retry: false, reason: 'gave up after 2 of 2 attempts' },
        }),
      ),
    );
    expect(r.events.at(-1)).toMatchObject({
      type: 'RunDegraded',
      data: { reason: { code: 'MODEL_UNAVAILABLE' } },
    });
    expect(checkRun(r.recorded, policy())).toEqual({ decisions: 4, checkedEvents: 7 });
  });

  it('names the first event a changed rule decides differently', () => {
    const r = toolRun();
    // A deliberately changed rule: answers are recorded upper-cased.
    const changed: PlannerDeciders = {
      ...PLANNER_DECIDERS,
      modelDecision: (state, cmd) =>
        decideModelDecision(state, cmd).map((e) =>
          e.type === 'RunCompleted'
            ? { ...e, data: { ...e.data, answer: e.data.answer.toUpperCase() } }
            : e,
        ),
    };
    const report = checkRun(r.recorded, policy(), changed);
    expect(report.divergence).toMatchObject({
      eventNumber: 6,
      expected: { type: 'RunCompleted', data: { answer: 'IT IS 42' } },
      recorded: { type: 'RunCompleted', data: { answer: 'It is 42' } },
      changes: [{ path: 'answer', before: 'IT IS 42', after: 'It is 42' }],
    });
    expect(report.decisions).toBe(3);
    expect(report.checkedEvents).toBe(5);
  });

  it('names a tool-call ceiling that today would stop the round', () => {
    const r = toolRun();
    const stricter: PlannerDeciders = {
      ...PLANNER_DECIDERS,
      modelDecision: (state, cmd) => {
        const events = decideModelDecision(state, cmd);
        const [recorded] = events;
        if (!recorded || cmd.decision.kind !== 'tool_calls' || state.status === 'none')
          return events;
        // Today's (changed) rule: no tool calls at all.
        const after = active(evolveRun(state, recorded));
        const strict = { ...after, limits: { ...after.limits, maxToolCalls: 0 } };
        return [recorded, ...proceed(strict, cmd.decision, cmd.poolOf)];
      },
    };
    expect(checkRun(r.recorded, policy(), stricter).divergence).toMatchObject({
      eventNumber: 3,
      expected: { type: 'SynthesisStarted', data: { reason: 'tool_call_limit' } },
      recorded: { type: 'ToolCallRequested' },
      why: "today's code records SynthesisStarted where ToolCallRequested was recorded",
    });
  });

  it('reports an event the recording lacks, and one today’s code would not record', () => {
    const r = toolRun();
    const truncated = r.recorded.slice(0, -1);
    expect(checkRun(truncated, policy()).divergence).toMatchObject({
      eventNumber: 6,
      expected: { type: 'RunCompleted' },
      recorded: null,
    });
    const withoutRequest = r.recorded
      .filter((e) => e.version !== 3)
      .map((e, i) => ({ ...e, version: i + 1 }));
    expect(checkRun(withoutRequest, policy()).divergence).toMatchObject({
      eventNumber: 3,
      expected: { type: 'ToolCallRequested' },
      recorded: { type: 'ToolResultRecorded' },
    });
    const extra = [...r.recorded, { version: 7, event: r.events[5]! }];
    expect(checkRun(extra, policy()).divergence).toMatchObject({
      eventNumber: 7,
      expected: null,
      why: "the run is completed: today's code records nothing more",
    });
  });
});
