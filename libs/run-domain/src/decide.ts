import type {
  ErrorInfo,
  ModelDecision,
  RunEvent,
  RunRequest,
  ToolOutcome,
  Usage,
} from '@keel/contracts';
import type { RunState } from './run-state';

/**
 * The planner's decisions, as pure functions of (state, command). Reacting to a
 * duplicate or late input returns `[]` rather than throwing: the planner is a
 * process manager and redeliveries are normal.
 */

export interface RunDefaults {
  readonly maxSteps: number;
  readonly maxToolCalls: number;
  readonly maxTokens: number;
  readonly deadlineMs: number;
}

export function decideStartRun(
  state: RunState,
  cmd: { request: RunRequest; runId: string; now: Date; defaults: RunDefaults },
): RunEvent[] {
  if (state.status !== 'none') return [];
  const { request: r, defaults: d } = cmd;
  const limits = r.limits ?? {};
  return [
    {
      type: 'RunRequested',
      data: {
        runId: cmd.runId,
        tenant: r.tenant,
        requestId: r.requestId,
        input: { prompt: r.input.prompt },
        capability: { tools: [...new Set(r.tools)] },
        limits: {
          maxSteps: limits.maxSteps ?? d.maxSteps,
          maxToolCalls: limits.maxToolCalls ?? d.maxToolCalls,
          maxTokens: limits.maxTokens ?? d.maxTokens,
          deadlineAt: new Date(
            cmd.now.getTime() + (limits.deadlineMs ?? d.deadlineMs),
          ).toISOString(),
        },
        ...(r.labels ? { labels: r.labels } : {}),
      },
    },
  ];
}

export type NextAction =
  | { readonly kind: 'call_model'; readonly step: number }
  | { readonly kind: 'wait_for_tools' }
  | { readonly kind: 'finished' }
  | { readonly kind: 'fail'; readonly error: ErrorInfo };

/** What the run needs next. The planner loops on this until it must wait. */
export function nextAction(state: RunState): NextAction {
  switch (state.status) {
    case 'none':
      return { kind: 'finished' };
    case 'completed':
    case 'failed':
      return { kind: 'finished' };
    case 'awaiting_tools':
      return { kind: 'wait_for_tools' };
    case 'planning': {
      if (state.step >= state.limits.maxSteps) {
        return {
          kind: 'fail',
          error: {
            code: 'STEP_LIMIT',
            message: `step limit ${state.limits.maxSteps} reached`,
            retryable: false,
          },
        };
      }
      const used = state.usage.inputTokens + state.usage.outputTokens;
      if (used >= state.limits.maxTokens) {
        return {
          kind: 'fail',
          error: {
            code: 'TOKEN_LIMIT',
            message: `token limit ${state.limits.maxTokens} reached`,
            retryable: false,
          },
        };
      }
      return { kind: 'call_model', step: state.step + 1 };
    }
    default: {
      const unreachable: never = state;
      return unreachable;
    }
  }
}

export interface RecordDecision {
  readonly step: number;
  readonly decision: ModelDecision;
  readonly usage: Usage;
  readonly model: string;
  readonly promptVersion: string;
  readonly latencyMs: number;
  /** The pool each tool runs in (from the registry). */
  readonly poolOf: (tool: string) => string;
}

export function decideModelDecision(state: RunState, cmd: RecordDecision): RunEvent[] {
  if (state.status !== 'planning' || cmd.step !== state.step + 1) return [];
  const recorded: RunEvent = {
    type: 'ModelDecisionRecorded',
    data: {
      step: cmd.step,
      model: cmd.model,
      promptVersion: cmd.promptVersion,
      decision: cmd.decision,
      usage: cmd.usage,
      latencyMs: cmd.latencyMs,
    },
  };
  const usage = {
    inputTokens: state.usage.inputTokens + cmd.usage.inputTokens,
    outputTokens: state.usage.outputTokens + cmd.usage.outputTokens,
  };
  const d = cmd.decision;
  if (d.kind === 'final') {
    return [recorded, { type: 'RunCompleted', data: { answer: d.answer, steps: cmd.step, usage } }];
  }
  if (state.toolCalls + d.calls.length > state.limits.maxToolCalls) {
    const error = {
      code: 'TOOL_CALL_LIMIT',
      message: `tool call limit ${state.limits.maxToolCalls} would be exceeded`,
      retryable: false,
    };
    return [recorded, { type: 'RunFailed', data: { error, steps: cmd.step, usage } }];
  }
  return [
    recorded,
    ...d.calls.map((c, i): RunEvent => ({
      type: 'ToolCallRequested',
      data: {
        step: cmd.step,
        callId: c.callId,
        tool: c.tool,
        pool: cmd.poolOf(c.tool),
        input: c.input,
        idempotencyKey: `${state.runId}:${cmd.step}:${i}`,
      },
    })),
  ];
}

export function decideToolOutcome(
  state: RunState,
  cmd: {
    callId: string;
    outcome: Extract<RunEvent, { type: 'ToolResultRecorded' }>['data']['outcome'];
  },
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
  const answer = finalAnswer(state, cmd.callId, cmd.outcome);
  return [
    recorded,
    { type: 'RunCompleted', data: { answer, steps: state.step, usage: state.usage } },
  ];
}

/** The run's result when a final round succeeds: its calls' outputs, in call order, as JSON. */
function finalAnswer(
  state: Extract<RunState, { status: 'awaiting_tools' }>,
  lastCallId: string,
  lastOutcome: ToolOutcome,
): string {
  const outputs = new Map<string, unknown>([
    [lastCallId, lastOutcome.ok ? lastOutcome.output : null],
  ]);
  for (const h of state.history)
    if (h.kind === 'tool_result' && h.outcome.ok) outputs.set(h.callId, h.outcome.output);
  const decision = [...state.history].reverse().find((h) => h.kind === 'decision');
  const calls =
    decision?.kind === 'decision' && decision.decision.kind === 'tool_calls'
      ? decision.decision.calls
      : [];
  const results = calls.map((c) => outputs.get(c.callId) ?? null);
  return JSON.stringify(results.length === 1 ? results[0] : results);
}

export function decideFailRun(state: RunState, error: ErrorInfo): RunEvent[] {
  if (state.status === 'none' || state.status === 'completed' || state.status === 'failed')
    return [];
  return [{ type: 'RunFailed', data: { error, steps: state.step, usage: state.usage } }];
}
