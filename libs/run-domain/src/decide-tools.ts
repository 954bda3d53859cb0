import type { RunEvent, ToolOutcome } from '@keel/contracts';
import { decideComplete } from './early-end';
import { evolveRun } from './evolve';
import type { RunState, StateOf } from './run-state';

/**
 * A tool call's outcome: recorded once (a repeat or a late outcome for a run
 * that moved on is ignored). When it completes a final round whose calls all
 * succeeded, their outputs are the run's result.
 */
export function decideToolOutcome(
  state: RunState,
  cmd: { callId: string; outcome: ToolOutcome },
): RunEvent[] {
  if (state.status !== 'awaiting_tools') return [];
  const pending = state.pending.find((p) => p.callId === cmd.callId);
  if (!pending) return [];
  const recorded: RunEvent = {
    type: 'ToolResultRecorded',
    data: { step: pending.step, callId: cmd.callId, tool: pending.tool, outcome: cmd.outcome },
  };
  const lastOfFinalRound =
    state.final && !state.roundFailed && cmd.outcome.ok && state.pending.length === 1;
  if (!lastOfFinalRound) return [recorded];
  const after = evolveRun(state, recorded);
  if (after.status === 'none') return [recorded];
  return [recorded, ...decideComplete(after, finalAnswer(state, cmd.callId, cmd.outcome))];
}

/** The run's result when a final round succeeds: its calls' outputs, in call order, as JSON. */
function finalAnswer(
  state: StateOf<'awaiting_tools'>,
  lastCallId: string,
  lastOutcome: ToolOutcome,
): string {
  const outputs = new Map<string, unknown>([
    [lastCallId, lastOutcome.ok ? lastOutcome.output : null],
  ]);
  for (const h of state.history)
    if (h.kind === 'tool_result' && h.outcome.ok) outputs.set(h.callId, h.outcome.output);
  const round = new Set(state.pending.map((p) => p.callId));
  const decision = state.history.findLast((h) => h.kind === 'decision');
  const calls =
    decision?.kind === 'decision' && decision.decision.kind === 'tool_calls'
      ? decision.decision.calls
      : [];
  const results = calls
    .filter((c) => round.has(c.callId) || outputs.has(c.callId))
    .map((c) => outputs.get(c.callId) ?? null);
  return JSON.stringify(results.length === 1 ? results[0] : results);
}
