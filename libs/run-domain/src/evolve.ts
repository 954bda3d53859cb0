import type { RunEvent } from '@keel/contracts';
import type { RunCore, RunState } from './run-state';

/** Apply one recorded event. Pure; never mutates `state`. */
export function evolveRun(state: RunState, event: RunEvent): RunState {
  switch (event.type) {
    case 'RunRequested': {
      if (state.status !== 'none') return state;
      const d = event.data;
      return {
        status: 'planning',
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
      };
    }
    case 'ModelDecisionRecorded': {
      const core = coreOf(state);
      const d = event.data;
      const next: RunCore = {
        ...core,
        step: d.step,
        usage: {
          inputTokens: core.usage.inputTokens + d.usage.inputTokens,
          outputTokens: core.usage.outputTokens + d.usage.outputTokens,
        },
        history: [
          ...core.history,
          { kind: 'decision', step: d.step, decision: d.decision, usage: d.usage },
        ],
      };
      return d.decision.kind === 'tool_calls'
        ? {
            ...next,
            status: 'awaiting_tools',
            pending: [],
            final: d.decision.final ?? false,
            roundFailed: false,
          }
        : { ...next, status: 'planning' };
    }
    case 'ToolCallRequested': {
      if (state.status !== 'awaiting_tools') return state;
      const d = event.data;
      return {
        ...state,
        toolCalls: state.toolCalls + 1,
        pending: [...state.pending, { callId: d.callId, tool: d.tool, step: d.step }],
      };
    }
    case 'ToolResultRecorded': {
      if (state.status !== 'awaiting_tools') return state;
      const d = event.data;
      const pending = state.pending.filter((p) => p.callId !== d.callId);
      const history = [
        ...state.history,
        { kind: 'tool_result' as const, callId: d.callId, tool: d.tool, outcome: d.outcome },
      ];
      const roundFailed = state.roundFailed || !d.outcome.ok;
      if (pending.length > 0) return { ...state, pending, history, roundFailed };
      const { pending: _p, final: _f, roundFailed: _r, ...core } = state;
      return { ...core, status: 'planning', history };
    }
    case 'RunCompleted':
      return { ...coreOf(state), status: 'completed', answer: event.data.answer };
    case 'RunFailed':
      return { ...coreOf(state), status: 'failed', error: event.data.error };
    default: {
      const unreachable: never = event;
      return unreachable;
    }
  }
}

function coreOf(state: RunState): RunCore {
  if (state.status === 'none') throw new Error('run event before RunRequested');
  // Strip the status-specific fields; keep the shared core.
  const { status: _s, ...rest } = state as RunCore & {
    status: string;
    pending?: unknown;
    answer?: unknown;
    error?: unknown;
  };
  const {
    pending: _p,
    answer: _a,
    error: _e,
    final: _f,
    roundFailed: _r,
    ...core
  } = rest as typeof rest & {
    final?: unknown;
    roundFailed?: unknown;
  };
  return core;
}

export const foldRun = (
  events: readonly RunEvent[],
  from: RunState = { status: 'none' },
): RunState => events.reduce(evolveRun, from);
