import type { ErrorInfo, RunEvent } from '@keel/contracts';
import type { ActiveRunState } from './run-state';

/** Longest partial answer recorded; older results are dropped first. */
const MAX_PARTIAL_CHARS = 8000;

/** Tool outputs that succeeded so far, oldest first. */
export function successfulResults(state: ActiveRunState) {
  return state.history.flatMap((h) =>
    h.kind === 'tool_result' && h.outcome.ok ? [{ tool: h.tool, output: h.outcome.output }] : [],
  );
}

/**
 * The best answer without another model call: a deterministic summary of the
 * tool results so far (newest kept when it must be shortened). Used when the
 * budget, a ceiling or the deadline leaves no room for a synthesis call.
 */
export function partialAnswer(state: ActiveRunState, reason: ErrorInfo): string {
  const results = successfulResults(state);
  const head = `No final answer: ${reason.message}. `;
  const kept: string[] = [];
  let size = head.length;
  for (const r of [...results].reverse()) {
    const line = JSON.stringify(r);
    if (size + line.length + 1 > MAX_PARTIAL_CHARS) break;
    kept.unshift(line);
    size += line.length + 1;
  }
  const omitted = results.length - kept.length;
  return (
    head +
    `Tool results so far (${results.length}${omitted ? `, oldest ${omitted} omitted` : ''}):\n` +
    kept.join('\n')
  );
}

const usageOf = (s: ActiveRunState) => ({ steps: s.step, usage: s.usage });

/**
 * End the run early for `reason`: degraded with the partial answer when there
 * is something to return; otherwise timed out (deadline) or failed.
 */
export function decideEarlyEnd(
  state: ActiveRunState,
  reason: ErrorInfo,
  opts: { deadline?: boolean } = {},
): RunEvent[] {
  if (successfulResults(state).length > 0) {
    return [
      {
        type: 'RunDegraded',
        data: { reason, answer: partialAnswer(state, reason), ...usageOf(state) },
      },
    ];
  }
  if (opts.deadline) {
    return [
      { type: 'RunTimedOut', data: { deadlineAt: state.limits.deadlineAt, ...usageOf(state) } },
    ];
  }
  return [{ type: 'RunFailed', data: { error: reason, ...usageOf(state) } }];
}

export function decideFailRun(state: ActiveRunState, error: ErrorInfo): RunEvent[] {
  return [{ type: 'RunFailed', data: { error, ...usageOf(state) } }];
}

export function decideComplete(state: ActiveRunState, answer: string): RunEvent[] {
  return [{ type: 'RunCompleted', data: { answer, ...usageOf(state) } }];
}

/** Why a synthesis ends degraded (a ceiling), or undefined when its answer is a full one. */
export function synthesisShortfall(state: ActiveRunState): ErrorInfo | undefined {
  switch (state.synthesis) {
    case 'step_limit':
      return {
        code: 'STEP_LIMIT',
        message: `step limit ${state.limits.maxSteps} reached`,
        retryable: false,
      };
    case 'tool_call_limit':
      return {
        code: 'TOOL_CALL_LIMIT',
        message: `tool call limit ${state.limits.maxToolCalls} reached`,
        retryable: false,
      };
    default:
      return undefined;
  }
}

/** A synthesized answer: complete after a budget warning, degraded after a ceiling. */
export function decideSynthesized(state: ActiveRunState, answer: string): RunEvent[] {
  const shortfall = synthesisShortfall(state);
  return shortfall ? degraded(state, answer, shortfall) : decideComplete(state, answer);
}

function degraded(state: ActiveRunState, answer: string, reason: ErrorInfo): RunEvent[] {
  return [{ type: 'RunDegraded', data: { reason, answer, ...usageOf(state) } }];
}
