import type { RunEvent, RunRequest } from '@keel/contracts';
import type { RunState } from './run-state';

/**
 * The planner's decisions are pure functions of (state, command). Reacting to
 * a duplicate or late input returns `[]` rather than throwing: the planner is
 * a process manager and redeliveries are normal.
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
          ...(limits.maxInputTokens !== undefined ? { maxInputTokens: limits.maxInputTokens } : {}),
          ...(limits.maxOutputTokens !== undefined
            ? { maxOutputTokens: limits.maxOutputTokens }
            : {}),
          ...(limits.maxCostUsd !== undefined ? { maxCostUsd: limits.maxCostUsd } : {}),
          deadlineAt: new Date(
            cmd.now.getTime() + (limits.deadlineMs ?? d.deadlineMs),
          ).toISOString(),
        },
        ...(r.labels ? { labels: r.labels } : {}),
      },
    },
  ];
}
