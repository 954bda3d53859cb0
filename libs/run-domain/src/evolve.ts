import type { RunEvent } from '@keel/contracts';
import { InvalidTransitionError, isAllowedTransition } from './run-machine';
import { coreOf, type RunCore, type RunState, type StepAttempts } from './run-state';

const NO_ATTEMPTS: StepAttempts = { failures: 0, rejected: [] };

/**
 * Apply one recorded event. Pure; never mutates `state`. Throws
 * `InvalidTransitionError` for an event the state machine does not allow.
 */
export function evolveRun(state: RunState, event: RunEvent): RunState {
  const next = apply(state, event);
  if (!isAllowedTransition(state.status, event.type, next.status as never)) {
    throw new InvalidTransitionError(
      state.status,
      event.type,
      next.status,
      state.status === 'none' ? undefined : state.runId,
    );
  }
  return next;
}

function apply(state: RunState, event: RunEvent): RunState {
  if (state.status === 'none') {
    if (event.type !== 'RunRequested')
      throw new InvalidTransitionError('none', event.type, undefined, undefined);
    const d = event.data;
    return {
      status: 'requested',
      runId: d.runId,
      tenant: d.tenant,
      requestId: d.requestId,
      prompt: d.input.prompt,
      tools: d.capability.tools,
      limits: d.limits,
      step: 0,
      toolCalls: 0,
      usage: { inputTokens: 0, outputTokens: 0 },
      history: [],
      attempts: NO_ATTEMPTS,
    };
  }
  const core = coreOf(state);
  switch (event.type) {
    case 'RunRequested':
      throw new InvalidTransitionError(state.status, event.type, undefined, state.runId);
    case 'ModelCallFailed':
      return {
        ...state,
        attempts: { ...state.attempts, failures: state.attempts.failures + 1 },
      };
    case 'ModelOutputRejected': {
      const d = event.data;
      return {
        ...state,
        usage: addUsage(state.usage, d.usage),
        attempts: {
          ...state.attempts,
          rejected: [
            ...state.attempts.rejected,
            { output: d.output, issues: d.issues, usage: d.usage },
          ],
        },
      };
    }
    case 'ModelDecisionRecorded': {
      const d = event.data;
      const stepUsage = state.attempts.rejected.reduce((u, r) => addUsage(u, r.usage), d.usage);
      return {
        ...state,
        step: d.step,
        usage: addUsage(state.usage, d.usage),
        history: [
          ...state.history,
          {
            kind: 'decision',
            step: d.step,
            decision: d.decision,
            usage: d.usage,
            model: d.model,
            stepUsage,
          },
        ],
        attempts: NO_ATTEMPTS,
      };
    }
    case 'SynthesisStarted':
      return { ...core, status: 'synthesizing', synthesis: event.data.reason };
    case 'HumanReviewRequested': {
      const d = event.data;
      return {
        ...core,
        attempts: NO_ATTEMPTS,
        status: 'awaiting_human',
        review: { step: d.step, reason: d.reason, proposal: d.proposal, decided: false },
      };
    }
    case 'HumanReviewDecided': {
      if (state.status !== 'awaiting_human') return state; // refused by the machine check
      const d = event.data;
      const history: RunCore['history'] = [
        ...state.history,
        {
          kind: 'review',
          step: d.step,
          reviewId: d.reviewId,
          decision: d.decision,
          ...(d.changes ? { changes: d.changes } : {}),
        },
      ];
      // Re-plan when the reviewer says how, or approves a step that had no valid proposal.
      const replan =
        d.changes?.instruction !== undefined ||
        (d.decision === 'approve' && state.review.proposal === null);
      // A re-plan of a synthesis stays a synthesis: no more tools.
      return replan
        ? { ...core, history, status: core.synthesis ? 'synthesizing' : 'planning' }
        : { ...state, history, review: { ...state.review, decided: true } };
    }
    case 'ToolCallRequested': {
      const d = event.data;
      const call = { callId: d.callId, tool: d.tool, step: d.step };
      if (state.status === 'awaiting_tools')
        return { ...state, toolCalls: state.toolCalls + 1, pending: [...state.pending, call] };
      const decision = lastDecision(core);
      return {
        ...core,
        status: 'awaiting_tools',
        toolCalls: core.toolCalls + 1,
        pending: [call],
        final: decision?.kind === 'tool_calls' ? (decision.final ?? false) : false,
        roundFailed: false,
      };
    }
    case 'ToolResultRecorded': {
      if (state.status !== 'awaiting_tools') return state; // refused by the machine check
      const d = event.data;
      const pending = state.pending.filter((p) => p.callId !== d.callId);
      const history: RunCore['history'] = [
        ...state.history,
        { kind: 'tool_result', callId: d.callId, tool: d.tool, outcome: d.outcome },
      ];
      const roundFailed = state.roundFailed || !d.outcome.ok;
      if (pending.length > 0) return { ...state, pending, history, roundFailed };
      return { ...core, history, status: 'planning' };
    }
    case 'RunCompleted':
      return { ...core, status: 'completed', answer: event.data.answer };
    case 'RunFailed':
      return { ...core, status: 'failed', error: event.data.error };
    case 'RunDegraded':
      return { ...core, status: 'degraded', answer: event.data.answer, reason: event.data.reason };
    case 'RunCancelled':
      return { ...core, status: 'cancelled', reason: event.data.reason };
    case 'RunTimedOut':
      return { ...core, status: 'timed_out' };
    default: {
      const unreachable: never = event;
      return unreachable;
    }
  }
}

const addUsage = (a: RunCore['usage'], b: RunCore['usage']) => ({
  inputTokens: a.inputTokens + b.inputTokens,
  outputTokens: a.outputTokens + b.outputTokens,
});

/** The most recent model decision, if any. */
export function lastDecision(core: RunCore) {
  const entry = core.history.findLast((h) => h.kind === 'decision');
  return entry?.kind === 'decision' ? entry.decision : undefined;
}

export const foldRun = (
  events: readonly RunEvent[],
  from: RunState = { status: 'none' },
): RunState => events.reduce(evolveRun, from);
