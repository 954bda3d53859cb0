import type { RunEvent } from '@keel/contracts';
import { decideEarlyEnd } from './early-end';
import type { ActiveRunState, RunState } from './run-state';

export type NextAction =
  /** Ask the model for step `step` (without tools when the run is synthesizing). */
  | { readonly kind: 'call_model'; readonly step: number; readonly synthesis: boolean }
  /** Record these events (no I/O needed), then ask again. */
  | { readonly kind: 'record'; readonly events: RunEvent[] }
  | { readonly kind: 'wait_for_tools' }
  | { readonly kind: 'wait_for_human' }
  | { readonly kind: 'finished' };

/**
 * What the run needs next. The planner loops on this until it must wait.
 * Runaway protection lives here: the last step a run may take is a synthesis
 * (an answer from what it has, no more tools), and a run past its token limit
 * or deadline ends with what it has instead of asking the model again.
 */
export function nextAction(state: RunState, now: Date): NextAction {
  switch (state.status) {
    case 'none':
    case 'completed':
    case 'degraded':
    case 'failed':
    case 'cancelled':
    case 'timed_out':
      return { kind: 'finished' };
    case 'awaiting_tools':
      return pastDeadline(state, now) ?? { kind: 'wait_for_tools' };
    case 'awaiting_human':
      return pastDeadline(state, now) ?? { kind: 'wait_for_human' };
    case 'requested':
    case 'planning':
    case 'synthesizing':
      return pastDeadline(state, now) ?? beforeModelCall(state);
    default: {
      const unreachable: never = state;
      return unreachable;
    }
  }
}

function pastDeadline(state: ActiveRunState, now: Date): NextAction | undefined {
  if (now.getTime() < Date.parse(state.limits.deadlineAt)) return undefined;
  const reason = {
    code: 'DEADLINE',
    message: `deadline ${state.limits.deadlineAt} passed`,
    retryable: false,
  };
  return { kind: 'record', events: decideEarlyEnd(state, reason, { deadline: true }) };
}

function beforeModelCall(state: ActiveRunState): NextAction {
  const { limits } = state;
  const { inputTokens, outputTokens } = state.usage;
  const spent =
    inputTokens + outputTokens >= limits.maxTokens
      ? `token limit ${limits.maxTokens}`
      : limits.maxInputTokens !== undefined && inputTokens >= limits.maxInputTokens
        ? `input token limit ${limits.maxInputTokens}`
        : limits.maxOutputTokens !== undefined && outputTokens >= limits.maxOutputTokens
          ? `output token limit ${limits.maxOutputTokens}`
          : undefined;
  if (spent) {
    const reason = { code: 'TOKEN_LIMIT', message: `${spent} reached`, retryable: false };
    return { kind: 'record', events: decideEarlyEnd(state, reason) };
  }
  if (state.step >= limits.maxSteps) {
    const reason = {
      code: 'STEP_LIMIT',
      message: `step limit ${limits.maxSteps} reached`,
      retryable: false,
    };
    return { kind: 'record', events: decideEarlyEnd(state, reason) };
  }
  const step = state.step + 1;
  if (state.status !== 'synthesizing' && step === limits.maxSteps && limits.maxSteps > 1) {
    return {
      kind: 'record',
      events: [{ type: 'SynthesisStarted', data: { step, reason: 'step_limit' } }],
    };
  }
  return { kind: 'call_model', step, synthesis: state.status === 'synthesizing' };
}
