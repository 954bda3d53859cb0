import type {
  CancelRunCommand,
  CommandRefusal,
  ModelDecision,
  ReviewDecisionCommand,
  RunEvent,
} from '@keel/contracts';
import { decideFailRun, decideSynthesized, decideComplete } from './early-end';
import { proceed } from './decide-model';
import { evolveRun } from './evolve';
import { isFinal, type ActiveRunState, type RunState } from './run-state';

/** A command's verdict: events to record (none for a repeat), or a clear refusal. */
export type CommandVerdict =
  | { readonly kind: 'accepted'; readonly events: RunEvent[]; readonly duplicate: boolean }
  | { readonly kind: 'refused'; readonly code: CommandRefusal; readonly message: string };

const refuse = (code: CommandRefusal, message: string): CommandVerdict => ({
  kind: 'refused',
  code,
  message,
});

function findRun(state: RunState, cmd: { runId: string; tenant: string }) {
  // Another tenant's run is answered like a missing one: its existence is not disclosed.
  if (state.status === 'none' || state.tenant !== cmd.tenant)
    return refuse('NOT_FOUND', `run ${cmd.runId} not found`);
  return state;
}

/**
 * A person's decision on a paused run. Approve carries out the proposal;
 * reject fails the run with the reviewer's reason; modify replaces the
 * proposal's answer or tool inputs, or (with an instruction) has the model
 * plan again. Work already done is never repeated: only the reviewed step's
 * consequences are recorded.
 */
export function decideReview(
  state: RunState,
  cmd: ReviewDecisionCommand,
  poolOf: (tool: string) => string,
): CommandVerdict {
  const run = findRun(state, cmd);
  if ('kind' in run) return run;
  if (run.history.some((h) => h.kind === 'review' && h.reviewId === cmd.reviewId))
    return { kind: 'accepted', events: [], duplicate: true };
  if (isFinal(run)) return refuse('RUN_FINISHED', `run ${run.runId} is ${run.status}`);
  if (run.status !== 'awaiting_human')
    return refuse(
      'NOT_AWAITING_REVIEW',
      `run ${run.runId} is ${run.status}, not awaiting a review`,
    );
  if (run.review.step !== cmd.step)
    return refuse(
      'NOT_AWAITING_REVIEW',
      `run ${run.runId} awaits a review of step ${run.review.step}, not step ${cmd.step}`,
    );
  const proposal = run.review.proposal;
  const decided: RunEvent = {
    type: 'HumanReviewDecided',
    data: {
      step: cmd.step,
      reviewId: cmd.reviewId,
      reviewer: cmd.reviewer,
      decision: cmd.decision,
      ...(cmd.decision === 'reject' ? { reason: cmd.reason } : {}),
      ...(cmd.decision === 'modify' ? { changes: cmd.changes } : {}),
    },
  };
  const after = () => evolveRun(run, decided) as ActiveRunState;
  const accept = (events: RunEvent[]): CommandVerdict => ({
    kind: 'accepted',
    events: [decided, ...events],
    duplicate: false,
  });

  switch (cmd.decision) {
    case 'reject':
      return accept(
        decideFailRun(after(), {
          code: 'REVIEW_REJECTED',
          message: `rejected by ${cmd.reviewer}: ${cmd.reason}`.slice(0, 2000),
          retryable: false,
        }),
      );
    case 'approve':
      if (proposal?.kind === 'ask_human')
        return refuse(
          'INVALID_DECISION',
          'the model asked a question: answer it with modify (changes.instruction or changes.answer)',
        );
      return accept(proposal ? proceed(after(), proposal, poolOf) : []);
    case 'modify': {
      const c = cmd.changes;
      if (c.instruction !== undefined) {
        return c.answer !== undefined || c.inputs !== undefined
          ? refuse('INVALID_DECISION', 'an instruction re-plans: send it without answer or inputs')
          : accept([]);
      }
      if (c.answer !== undefined) {
        if (proposal?.kind === 'tool_calls' || c.inputs !== undefined)
          return refuse('INVALID_DECISION', 'an answer replaces a final answer, not tool calls');
        const a = after();
        return accept(a.synthesis ? decideSynthesized(a, c.answer) : decideComplete(a, c.answer));
      }
      if (proposal?.kind !== 'tool_calls')
        return refuse('INVALID_DECISION', 'inputs replace proposed tool calls; there are none');
      const modified = withInputs(proposal, c.inputs ?? {});
      if (typeof modified === 'string') return refuse('INVALID_DECISION', modified);
      return accept(proceed(after(), modified, poolOf));
    }
  }
}

function withInputs(
  proposal: Extract<ModelDecision, { kind: 'tool_calls' }>,
  inputs: Record<string, Record<string, unknown>>,
): Extract<ModelDecision, { kind: 'tool_calls' }> | string {
  const unknown = Object.keys(inputs).filter((id) => !proposal.calls.some((c) => c.callId === id));
  if (unknown.length > 0) return `no proposed call has id ${unknown.join(', ')}`;
  return {
    ...proposal,
    calls: proposal.calls.map((c) => ({ ...c, input: inputs[c.callId] ?? c.input })),
  };
}

/** Cancel a run that has not ended; repeating it is answered as a duplicate. */
export function decideCancel(state: RunState, cmd: CancelRunCommand): CommandVerdict {
  const run = findRun(state, cmd);
  if ('kind' in run) return run;
  if (run.status === 'cancelled') return { kind: 'accepted', events: [], duplicate: true };
  if (isFinal(run)) return refuse('RUN_FINISHED', `run ${run.runId} is ${run.status}`);
  return {
    kind: 'accepted',
    duplicate: false,
    events: [
      {
        type: 'RunCancelled',
        data: { reason: cmd.reason, by: cmd.requestedBy, steps: run.step, usage: run.usage },
      },
    ],
  };
}
