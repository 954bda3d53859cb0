import type { ModelDecision, RunEvent } from '@keel/contracts';
import { decideCancel, decideReview, type CommandVerdict } from './decide-commands';
import { foldRun } from './evolve';
import { nextAction } from './next-action';
import { buildTranscript } from './prompt';
import {
  approve,
  askHumanDecision,
  BEFORE_DEADLINE,
  callId,
  cancel,
  decisionRecorded,
  expectStatus,
  finalDecision,
  given,
  modify,
  OTHER_TENANT,
  outputRejected,
  poolOf,
  reject,
  reviewDecided,
  reviewRequested,
  roundResults,
  RUN_ID,
  runCompleted,
  runRequested,
  synthesisStarted,
  toolCallRequested,
  toolCallsDecision,
  toolResultRecorded,
  toolRound,
  usage,
} from './test-fixtures';

const SEARCH = [{ tool: 'search', input: { q: 'weather Lisbon' } }];
/** Step 1 is done: one search, its result recorded. */
const stepOneDone = [runRequested(), ...toolRound(1, SEARCH), ...roundResults(1, SEARCH)];

/** Step 2 proposes an e-mail and a search; send_email is high-stakes, so it waits for a person. */
const emailProposal = toolCallsDecision(2, [
  { tool: 'send_email', input: { to: 'boss@acme.test', body: 'It is 20°C' } },
  { tool: 'search', input: { q: 'weather Porto' } },
]);
const awaitingEmailReview = [
  ...stepOneDone,
  decisionRecorded(2, emailProposal),
  reviewRequested(2, 'high_stakes_tool', emailProposal),
];

const shakyAnswer = finalDecision('Probably 20°C', 0.4);
const awaitingAnswerReview = [
  ...stepOneDone,
  decisionRecorded(2, shakyAnswer),
  reviewRequested(2, 'low_confidence', shakyAnswer, 0.7),
];

const question = askHumanDecision('Lisbon, Portugal or Lisbon, Ohio?');
const awaitingQuestion = [
  ...stepOneDone,
  decisionRecorded(2, question),
  reviewRequested(2, 'model_asked', question),
];

/** Step 2's replies all failed validation: a person is asked with no proposal. */
const awaitingInvalidOutput = [
  ...stepOneDone,
  outputRejected(2, 1),
  outputRejected(2, 2),
  outputRejected(2, 3),
  reviewRequested(2, 'structured_output_invalid', null),
];

function accepted(verdict: CommandVerdict): RunEvent[] {
  if (verdict.kind !== 'accepted') throw new Error(`refused: ${verdict.code} ${verdict.message}`);
  expect(verdict.duplicate).toBe(false);
  return verdict.events;
}

const native = { mode: 'native' as const, tools: [], contextTokens: 100_000 };
const json = { mode: 'json' as const, tools: [], contextTokens: 100_000 };

describe('decideReview', () => {
  describe('given a run waiting for approval of tool calls (step 2, after step 1 ran)', () => {
    const state = given(awaitingEmailReview);

    it('when approved, then only the reviewed step’s calls are requested (step 1 is not re-run)', () => {
      expect(decideReview(state, approve(2), poolOf)).toEqual({
        kind: 'accepted',
        duplicate: false,
        events: [
          reviewDecided(2, 'approve'),
          {
            type: 'ToolCallRequested',
            data: {
              step: 2,
              callId: callId(2, 0),
              tool: 'send_email',
              pool: 'outbound',
              input: { to: 'boss@acme.test', body: 'It is 20°C' },
              idempotencyKey: `${RUN_ID}:2:0`,
            },
          },
          toolCallRequested(2, 1, 'search', { q: 'weather Porto' }),
        ],
      });
    });

    it('then the run waits for those two calls only', () => {
      const after = foldRun(accepted(decideReview(state, approve(2), poolOf)), state);
      const waiting = expectStatus(after, 'awaiting_tools');
      expect(waiting.pending).toEqual([
        { callId: callId(2, 0), tool: 'send_email', step: 2 },
        { callId: callId(2, 1), tool: 'search', step: 2 },
      ]);
      expect(waiting.toolCalls).toBe(3);
    });

    it('when rejected, then the run fails REVIEW_REJECTED with the reviewer’s reason', () => {
      expect(accepted(decideReview(state, reject(2, 'do not e-mail the boss'), poolOf))).toEqual([
        reviewDecided(2, 'reject', { reason: 'do not e-mail the boss' }),
        {
          type: 'RunFailed',
          data: {
            error: {
              code: 'REVIEW_REJECTED',
              message: 'rejected by alice: do not e-mail the boss',
              retryable: false,
            },
            steps: 2,
            usage: usage(200, 40),
          },
        },
      ]);
    });

    describe('when modified with new inputs for a call', () => {
      const newInput = { to: 'team@acme.test', body: 'It is 20°C (68°F)' };
      const changes = { inputs: { [callId(2, 0)]: newInput } };
      const events = accepted(decideReview(state, modify(2, changes), poolOf));

      it('then the calls are requested with the new input (the others unchanged)', () => {
        expect(events).toEqual([
          reviewDecided(2, 'modify', { changes }),
          toolCallRequested(2, 0, 'send_email', newInput),
          toolCallRequested(2, 1, 'search', { q: 'weather Porto' }),
        ]);
      });

      it('then the transcript shows the model the input that was actually used', () => {
        const done = given([
          ...awaitingEmailReview,
          ...events,
          toolResultRecorded(2, 0, 'send_email'),
          toolResultRecorded(2, 1, 'search'),
        ]);
        const state2 = expectStatus(done, 'planning');
        const nativeCalls = buildTranscript(state2, native).flatMap((m) =>
          m.role === 'assistant' ? (m.toolCalls ?? []) : [],
        );
        expect(nativeCalls.find((c) => c.id === callId(2, 0))?.arguments).toEqual(newInput);
        const jsonText = buildTranscript(state2, json)
          .map((m) => m.content)
          .join('\n');
        expect(jsonText).toContain(JSON.stringify(newInput));
        expect(jsonText).not.toContain('boss@acme.test');
      });
    });

    it('when an input names a call that was not proposed, then it is refused INVALID_DECISION', () => {
      const verdict = decideReview(state, modify(2, { inputs: { [callId(9, 0)]: {} } }), poolOf);
      expect(verdict).toEqual({
        kind: 'refused',
        code: 'INVALID_DECISION',
        message: `no proposed call has id ${callId(9, 0)}`,
      });
    });

    it('when an answer is sent for tool calls, then it is refused INVALID_DECISION', () => {
      const verdict = decideReview(state, modify(2, { answer: '20°C' }), poolOf);
      expect(verdict).toMatchObject({ kind: 'refused', code: 'INVALID_DECISION' });
    });

    it('when an instruction comes with inputs, then it is refused INVALID_DECISION', () => {
      const verdict = decideReview(
        state,
        modify(2, { instruction: 'use the team list', inputs: { [callId(2, 0)]: {} } }),
        poolOf,
      );
      expect(verdict).toMatchObject({ kind: 'refused', code: 'INVALID_DECISION' });
    });

    it('when the decision is for another step, then it is refused NOT_AWAITING_REVIEW', () => {
      expect(decideReview(state, approve(1), poolOf)).toEqual({
        kind: 'refused',
        code: 'NOT_AWAITING_REVIEW',
        message: `run ${RUN_ID} awaits a review of step 2, not step 1`,
      });
    });

    it('when the same review is sent twice, then the repeat is a duplicate with no events', () => {
      const first = accepted(decideReview(state, approve(2, { reviewId: 'r-42' }), poolOf));
      const after = foldRun(first, state);
      expect(decideReview(after, approve(2, { reviewId: 'r-42' }), poolOf)).toEqual({
        kind: 'accepted',
        events: [],
        duplicate: true,
      });
      // Even when the run has since ended.
      const ended = foldRun(
        [...roundResults(2, [{ tool: 'send_email' }, { tool: 'search' }])],
        after,
      );
      const done = foldRun([runCompleted()], ended);
      expect(decideReview(done, approve(2, { reviewId: 'r-42' }), poolOf)).toMatchObject({
        kind: 'accepted',
        duplicate: true,
      });
    });

    it('when a different review follows an applied one, then it is refused (not applied twice)', () => {
      const after = foldRun(accepted(decideReview(state, approve(2), poolOf)), state);
      expect(decideReview(after, approve(2, { reviewId: 'rev-2' }), poolOf)).toMatchObject({
        kind: 'refused',
        code: 'NOT_AWAITING_REVIEW',
      });
    });
  });

  describe('given a run waiting for approval of a final answer', () => {
    const state = given(awaitingAnswerReview);

    it('when approved, then the run completes with the proposed answer', () => {
      expect(accepted(decideReview(state, approve(2), poolOf))).toEqual([
        reviewDecided(2, 'approve'),
        {
          type: 'RunCompleted',
          data: { answer: 'Probably 20°C', steps: 2, usage: usage(200, 40) },
        },
      ]);
    });

    it('when modified with an answer, then the run completes with that answer', () => {
      const changes = { answer: 'It is 20°C (68°F) in Lisbon.' };
      const events = accepted(decideReview(state, modify(2, changes), poolOf));
      expect(events).toEqual([
        reviewDecided(2, 'modify', { changes }),
        {
          type: 'RunCompleted',
          data: { answer: 'It is 20°C (68°F) in Lisbon.', steps: 2, usage: usage(200, 40) },
        },
      ]);
      expect(foldRun(events, state).status).toBe('completed');
    });

    it('when modified with inputs, then it is refused INVALID_DECISION (there are no calls)', () => {
      const verdict = decideReview(state, modify(2, { inputs: { [callId(2, 0)]: {} } }), poolOf);
      expect(verdict).toEqual({
        kind: 'refused',
        code: 'INVALID_DECISION',
        message: 'inputs replace proposed tool calls; there are none',
      });
    });
  });

  describe('given a synthesis answer held for review (step-limit synthesis)', () => {
    const answer = finalDecision('About 20°C', 0.3);
    const state = given([
      runRequested({ maxSteps: 2 }),
      ...toolRound(1, SEARCH),
      ...roundResults(1, SEARCH),
      synthesisStarted(2, 'step_limit'),
      decisionRecorded(2, answer),
      reviewRequested(2, 'low_confidence', answer, 0.7),
    ]);

    it('when approved or answered, then the run ends degraded (STEP_LIMIT), not completed', () => {
      const approved = accepted(decideReview(state, approve(2), poolOf));
      expect(approved[1]).toMatchObject({
        type: 'RunDegraded',
        data: { answer: 'About 20°C', reason: { code: 'STEP_LIMIT' } },
      });
      const modified = accepted(decideReview(state, modify(2, { answer: '20°C' }), poolOf));
      expect(modified[1]).toMatchObject({ type: 'RunDegraded', data: { answer: '20°C' } });
      expect(foldRun(modified, state).status).toBe('degraded');
    });
  });

  describe('given a run whose model asked a question', () => {
    const state = given(awaitingQuestion);

    it('when approved, then it is refused INVALID_DECISION (a question needs an answer)', () => {
      expect(decideReview(state, approve(2), poolOf)).toMatchObject({
        kind: 'refused',
        code: 'INVALID_DECISION',
      });
    });

    describe('when answered with an instruction', () => {
      const changes = { instruction: 'Lisbon, Portugal.' };
      const events = accepted(decideReview(state, modify(2, changes), poolOf));
      const after = foldRun(events, state);

      it('then only the decision is recorded and the run plans again', () => {
        expect(events).toEqual([reviewDecided(2, 'modify', { changes })]);
        expect(after.status).toBe('planning');
        expect(nextAction(after, BEFORE_DEADLINE)).toEqual({
          kind: 'call_model',
          step: 3,
          synthesis: false,
        });
      });

      it('then the model sees the instruction in its transcript', () => {
        const messages = buildTranscript(expectStatus(after, 'planning'), native);
        expect(messages.at(-1)).toEqual({
          role: 'user',
          content: 'A person reviewed step 2 and answers: Lisbon, Portugal.',
        });
      });
    });

    it('when answered with an answer, then the run completes with it', () => {
      const events = accepted(
        decideReview(state, modify(2, { answer: '20°C in Lisbon, PT' }), poolOf),
      );
      expect(events[1]).toMatchObject({
        type: 'RunCompleted',
        data: { answer: '20°C in Lisbon, PT' },
      });
    });
  });

  describe('given a run paused because its output kept failing validation (no proposal)', () => {
    const state = given(awaitingInvalidOutput);

    it('when approved, then the run plans the same step again', () => {
      const events = accepted(decideReview(state, approve(2), poolOf));
      expect(events).toEqual([reviewDecided(2, 'approve')]);
      const after = foldRun(events, state);
      expect(after.status).toBe('planning');
      expect(nextAction(after, BEFORE_DEADLINE)).toEqual({
        kind: 'call_model',
        step: 2,
        synthesis: false,
      });
    });

    it('when modified with inputs, then it is refused INVALID_DECISION', () => {
      expect(
        decideReview(state, modify(2, { inputs: { [callId(2, 0)]: {} } }), poolOf),
      ).toMatchObject({ kind: 'refused', code: 'INVALID_DECISION' });
    });
  });

  describe('refusals', () => {
    it('NOT_FOUND for a run that does not exist', () => {
      expect(decideReview(given([]), approve(1), poolOf)).toEqual({
        kind: 'refused',
        code: 'NOT_FOUND',
        message: `run ${RUN_ID} not found`,
      });
    });

    it('NOT_FOUND for another tenant’s run, even one awaiting review (existence not disclosed)', () => {
      const verdict = decideReview(
        given(awaitingEmailReview),
        approve(2, { tenant: OTHER_TENANT }),
        poolOf,
      );
      expect(verdict).toEqual({
        kind: 'refused',
        code: 'NOT_FOUND',
        message: `run ${RUN_ID} not found`,
      });
    });

    it('RUN_FINISHED for a run that ended', () => {
      const state = given([...awaitingAnswerReview, runCompleted()]);
      expect(decideReview(state, approve(2), poolOf)).toEqual({
        kind: 'refused',
        code: 'RUN_FINISHED',
        message: `run ${RUN_ID} is completed`,
      });
    });

    it('NOT_AWAITING_REVIEW for a run that is not paused', () => {
      expect(decideReview(given(stepOneDone), approve(1), poolOf)).toEqual({
        kind: 'refused',
        code: 'NOT_AWAITING_REVIEW',
        message: `run ${RUN_ID} is planning, not awaiting a review`,
      });
    });
  });

  describe('given approval of calls the tool-call ceiling no longer allows', () => {
    // maxToolCalls 2, one call made; the reviewed step proposes two more.
    const proposal: ModelDecision = toolCallsDecision(2, [
      { tool: 'send_email' },
      { tool: 'send_email' },
    ]);
    const stream = [
      runRequested({ maxToolCalls: 2 }),
      ...toolRound(1, SEARCH),
      ...roundResults(1, SEARCH),
      decisionRecorded(2, proposal),
      reviewRequested(2, 'high_stakes_tool', proposal),
    ];

    it('then no call is requested', () => {
      const events = accepted(decideReview(given(stream), approve(2), poolOf));
      expect(events.some((e) => e.type === 'ToolCallRequested')).toBe(false);
    });

    // BUG: decideReview → proceed() returns SynthesisStarted for a run in
    // awaiting_human, but RUN_TRANSITIONS has no awaiting_human → SynthesisStarted,
    // so the verdict's events cannot be folded (InvalidTransitionError) and the
    // approval can never be recorded.
    it('then the verdict can be recorded and the run synthesizes', () => {
      const events = accepted(decideReview(given(stream), approve(2), poolOf));
      expect(foldRun(events, given(stream)).status).toBe('synthesizing');
    });
  });
});

describe('decideCancel', () => {
  it.each([
    ['requested', [runRequested()]],
    ['awaiting_tools', [runRequested(), ...toolRound(1, SEARCH)]],
    ['awaiting_human', awaitingQuestion],
  ] as const)('given a %s run, then it is cancelled', (_status, stream) => {
    const state = given(stream);
    const verdict = decideCancel(state, cancel());
    const run = state.status === 'none' ? undefined : state;
    expect(verdict).toEqual({
      kind: 'accepted',
      duplicate: false,
      events: [
        {
          type: 'RunCancelled',
          data: {
            reason: 'no longer needed',
            by: 'ops@acme',
            steps: run?.step,
            usage: run?.usage,
          },
        },
      ],
    });
    expect(foldRun(accepted(verdict), state).status).toBe('cancelled');
  });

  it('given a cancelled run, then cancelling again is a duplicate with no events', () => {
    const state = given([runRequested()]);
    const after = foldRun(accepted(decideCancel(state, cancel())), state);
    expect(decideCancel(after, cancel())).toEqual({
      kind: 'accepted',
      events: [],
      duplicate: true,
    });
  });

  it('given a finished run, then it is refused RUN_FINISHED', () => {
    expect(decideCancel(given([runRequested(), runCompleted()]), cancel())).toEqual({
      kind: 'refused',
      code: 'RUN_FINISHED',
      message: `run ${RUN_ID} is completed`,
    });
  });

  it('given no run, or another tenant’s run, then it is refused NOT_FOUND', () => {
    expect(decideCancel(given([]), cancel())).toMatchObject({ kind: 'refused', code: 'NOT_FOUND' });
    expect(decideCancel(given([runRequested()]), cancel({ tenant: OTHER_TENANT }))).toMatchObject({
      kind: 'refused',
      code: 'NOT_FOUND',
    });
  });
});
